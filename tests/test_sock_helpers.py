"""Socket helpers returning another view of their socket argument, judged by the running
kernel: bpf_skc_to_* (a plain PTR_TO_BTF_ID | PTR_MAYBE_NULL of the named struct, holding
the argument's reference, except bpf_skc_to_unix_sock) and bpf_get_listener_sock (a
PTR_TO_SOCKET_OR_NULL holding no reference). The abstract verifier models them, and so
does the Z3 engine (model.symbolic.sockets, sock_casts: a cast holds its socket's
reference)."""

from __future__ import annotations

import pytest

from model.kernel import available
from test_ctx_sockets import assert_like_kernel
from references_probes import SK_RELEASE, _lookup
from model.kernel.oracle import rejection_reason
from soundness_probes import Probe, assert_same_verdict

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
GET_LISTENER, SKC_TO_TCP, SKC_TO_UNIX, SKC_TO_TCP6, SKC_TO_MPTCP = 98, 137, 178, 136, 196
SKB = "r6 = r1\nr7 = *(u64 *)(r6 + 168)\nif r7 == 0 goto out\n"  # skb->sk, checked
CHECK = "if r0 == 0 goto out\n"
END = "out:\nr0 = 0\nexit\n"
LOOKED = "if r0 == 0 goto out\nr7 = r0\n"  # a looked-up (referenced) socket in r7
REL7 = f"r1 = r7\ncall {SK_RELEASE}\n"


def _tc(name: str, body: str) -> Probe:
    return Probe(name, "sched_cls", body)


PROBES = [
    # bpf_skc_to_tcp_sock on skb->sk (no reference)
    _tc("skc_tcp_ok", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + "r0 = *(u32 *)(r0 + 0)\n" + END),
    _tc("skc_tcp_unchecked", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        "r0 = *(u32 *)(r0 + 0)\n" + END),
    _tc("skc_tcp_write", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + "r1 = 0\n*(u32 *)(r0 + 0) = r1\n" + END),
    _tc("skc_tcp_scalar", f"r1 = 0\ncall {SKC_TO_TCP}\n" + END),
    _tc("skc_tcp_unchecked_sk", "r6 = r1\nr7 = *(u64 *)(r6 + 168)\n"
        f"r1 = r7\ncall {SKC_TO_TCP}\n" + END),
    _tc("skc_tcp_ctx", f"call {SKC_TO_TCP}\n" + END),
    _tc("skc_tcp6_ok", SKB + f"r1 = r7\ncall {SKC_TO_TCP6}\n" + CHECK
        + "r0 = *(u8 *)(r0 + 100)\n" + END),
    _tc("skc_unix_ok", SKB + f"r1 = r7\ncall {SKC_TO_UNIX}\n" + CHECK
        + "r0 = *(u32 *)(r0 + 0)\n" + END),
    _tc("skc_tcp_chain_ok", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + f"r1 = r0\ncall {SKC_TO_TCP6}\n" + END),
    _tc("skc_tcp_past_end", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + "r0 = *(u32 *)(r0 + 30000)\n" + END),
    # on a looked-up socket: the cast holds its reference
    _tc("skc_tcp_lookup_ok", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        "if r0 == 0 goto rel\nr0 = *(u32 *)(r0 + 0)\nrel:\n" + REL7 + END),
    _tc("skc_tcp_use_after_release", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        "if r0 == 0 goto rel\nr8 = r0\n" + REL7 + "r0 = *(u32 *)(r8 + 0)\n" + END
        + "rel:\n" + REL7 + "r0 = 0\nexit\n"),
    _tc("skc_tcp_release_cast_ok", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        "if r0 == 0 goto rel\n" f"r1 = r0\ncall {SK_RELEASE}\n" + END
        + "rel:\n" + REL7 + "r0 = 0\nexit\n"),
    _tc("skc_tcp_release_unchecked_cast", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        f"r1 = r0\ncall {SK_RELEASE}\n" + END),
    _tc("skc_tcp_release_cast_off", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n"
        "if r0 == 0 goto rel\n" f"r1 = r0\nr1 += 8\ncall {SK_RELEASE}\n" + END
        + "rel:\n" + REL7 + "r0 = 0\nexit\n"),
    _tc("skc_unix_release", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_UNIX}\n"
        "if r0 == 0 goto rel\n" f"r1 = r0\ncall {SK_RELEASE}\n" + END
        + "rel:\n" + REL7 + "r0 = 0\nexit\n"),
    _tc("skc_tcp_release_no_ref", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + f"r1 = r0\ncall {SK_RELEASE}\n" + END),
    _tc("skc_tcp_leak", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_TCP}\n" + END),
    _tc("skc_unix_after_release_ok", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_UNIX}\n"
        "r8 = r0\n" + REL7 + "if r8 == 0 goto out\nr0 = *(u32 *)(r8 + 0)\n" + END),
    _tc("skc_tcp_then_tcp_sock", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + "r1 = r0\ncall 96\n" + END),
    _tc("skc_tcp_spilled_ok", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n*(u64 *)(r10 - 8) = r0\n"
        "r0 = *(u64 *)(r10 - 8)\n" + CHECK + "r0 = *(u32 *)(r0 + 0)\n" + END),
    _tc("skc_tcp_arith_read_ok", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + "r0 += 8\nr0 = *(u32 *)(r0 + 0)\n" + END),
    _tc("skc_mptcp_ok", SKB + f"r1 = r7\ncall {SKC_TO_MPTCP}\n" + CHECK
        + "r0 = *(u32 *)(r0 + 0)\n" + END),
    _tc("skc_mptcp_lookup_leak", _lookup() + LOOKED + f"r1 = r7\ncall {SKC_TO_MPTCP}\n" + END),
    _tc("skc_tcp_listener_ok", SKB + f"r1 = r7\ncall {SKC_TO_TCP}\n" + CHECK
        + f"r1 = r0\ncall {SKC_TO_UNIX}\n" + END),
    # bpf_get_listener_sock: a socket holding no reference
    _tc("listener_ok", SKB + f"r1 = r7\ncall {GET_LISTENER}\n" + CHECK
        + "r0 = *(u32 *)(r0 + 4)\n" + END),
    _tc("listener_unchecked", SKB + f"r1 = r7\ncall {GET_LISTENER}\n"
        "r0 = *(u32 *)(r0 + 4)\n" + END),
    _tc("listener_release", SKB + f"r1 = r7\ncall {GET_LISTENER}\n" + CHECK
        + f"r1 = r0\ncall {SK_RELEASE}\n" + END),
    _tc("listener_scalar", f"r1 = 0\ncall {GET_LISTENER}\n" + END),
    _tc("listener_lookup_ok", _lookup() + LOOKED + f"r1 = r7\ncall {GET_LISTENER}\n"
        "r8 = r0\n" + REL7 + "if r8 == 0 goto out\nr0 = *(u32 *)(r8 + 4)\n" + END),
]

# bpf_sock_map_update / bpf_sock_hash_update (sock_ops): (ctx, map, key, flags)
SOCKMAP, SOCKHASH, HASH = (15, 4, 4, 4, 0), (18, 4, 4, 4, 0), (1, 4, 4, 4, 0)
SOCK_MAP_UPDATE, SOCK_HASH_UPDATE, MAP_UPDATE, MAP_DELETE = 53, 70, 2, 3
KEY = "r2 = 0\n*(u32 *)(r10 - 4) = r2\n"
ARGS = "r1 = r6\nld_pseudo r2, 1, 0\nr3 = r10\nr3 += -4\nr4 = 0\n"


def _so(name: str, body: str, maps, ptype: str = "sock_ops") -> Probe:
    return Probe(name, ptype, "r6 = r1\n" + body + "r0 = 1\nexit\n", [maps])


MAP_PROBES = [
    _so("sock_map_update_ok", KEY + ARGS + f"call {SOCK_MAP_UPDATE}\n", SOCKMAP),
    _so("sock_hash_update_ok", KEY + ARGS + f"call {SOCK_HASH_UPDATE}\n", SOCKHASH),
    _so("sock_map_update_hash_map", KEY + ARGS + f"call {SOCK_MAP_UPDATE}\n", HASH),
    _so("sock_map_update_sockhash", KEY + ARGS + f"call {SOCK_MAP_UPDATE}\n", SOCKHASH),
    _so("sock_hash_update_sockmap", KEY + ARGS + f"call {SOCK_HASH_UPDATE}\n", SOCKMAP),
    _so("sock_map_update_key_uninit_ok", ARGS + f"call {SOCK_MAP_UPDATE}\n", SOCKMAP),
    _so("sock_map_update_key_short_ok", "r2 = 0\n*(u16 *)(r10 - 4) = r2\n" + ARGS
        + f"call {SOCK_MAP_UPDATE}\n", SOCKMAP),
    _so("sock_map_update_key_scalar", KEY + ARGS + f"r3 = 0\ncall {SOCK_MAP_UPDATE}\n",
        SOCKMAP),
    _so("sock_map_update_not_ctx", KEY + ARGS + f"r1 = r10\ncall {SOCK_MAP_UPDATE}\n",
        SOCKMAP),
    _so("sock_map_update_ctx_moved", KEY + ARGS + f"r1 += 8\ncall {SOCK_MAP_UPDATE}\n",
        SOCKMAP),
    _so("sock_map_update_tc", KEY + ARGS + f"call {SOCK_MAP_UPDATE}\n", SOCKMAP,
        "sched_cls"),
    _so("map_update_sockmap_sock_ops", KEY + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\n"
        f"r3 = r10\nr3 += -4\nr4 = 0\ncall {MAP_UPDATE}\n", SOCKMAP),
]
_UPDATE_SK = ("if r7 == 0 goto out\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\nr3 = r7\n"
              f"r4 = 0\ncall {MAP_UPDATE}\nout:\n")
MAP_PROBES += [
    # resolve_map_arg_type: the value of a sockmap update is a socket, checked first
    _so("map_update_sockmap_tc_fp_value", KEY + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\n"
        f"r3 = r10\nr3 += -4\nr4 = 0\ncall {MAP_UPDATE}\n", SOCKMAP, "sched_cls"),
    _so("map_update_sockmap_sock_ops_sk", KEY + "r7 = *(u64 *)(r6 + 184)\n" + _UPDATE_SK,
        SOCKMAP),
]
#: bpf_map_delete_elem / bpf_map_update_elem on a sockmap: the abstract verifier's (the key;
#: the value is a socket); the other engines leave them to it (unknown, never unsafe)
VERIFIER_ONLY = [
    _so("map_delete_sockmap_sock_ops_ok", KEY + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\n"
        f"call {MAP_DELETE}\n", SOCKMAP),
    _so("map_update_sockmap_tc_sk_ok", KEY + "r7 = *(u64 *)(r6 + 168)\n" + _UPDATE_SK,
        SOCKMAP, "sched_cls"),
    _so("map_update_sockhash_tc_sk_ok", KEY + "r7 = *(u64 *)(r6 + 168)\n" + _UPDATE_SK,
        SOCKHASH, "sched_cls"),
    _so("map_update_sockmap_tc_sk_unchecked", KEY + "r7 = *(u64 *)(r6 + 168)\n"
        + _UPDATE_SK.replace("if r7 == 0 goto out\n", ""), SOCKMAP, "sched_cls"),
    _so("map_update_sockmap_tc_key_scalar", KEY + "r7 = *(u64 *)(r6 + 168)\n"
        + _UPDATE_SK.replace("r2 += -4\n", "r2 = 0\n"), SOCKMAP, "sched_cls"),
    _so("map_update_sockmap_tc_sk_moved", KEY + "r7 = *(u64 *)(r6 + 168)\n"
        + _UPDATE_SK.replace("r3 = r7\n", "r3 = r7\nr3 += 4\n"), SOCKMAP, "sched_cls"),
    _so("map_update_sockmap_lookup_ok", KEY + _lookup().replace("r6 = r1\n", "") + LOOKED
        + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\nr3 = r7\nr4 = 0\n"
        f"call {MAP_UPDATE}\n" + REL7 + "out:\n", SOCKMAP, "sched_cls"),
    _so("map_update_sockmap_lookup_leak", KEY + _lookup().replace("r6 = r1\n", "") + LOOKED
        + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\nr3 = r7\nr4 = 0\n"
        f"call {MAP_UPDATE}\n" + "out:\n", SOCKMAP, "sched_cls"),
    _so("map_delete_sockmap_xdp_ok", KEY + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\n"
        f"call {MAP_DELETE}\n", SOCKMAP, "xdp"),
    _so("map_delete_sockmap_cgroup_skb", KEY + "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\n"
        f"call {MAP_DELETE}\n", SOCKMAP, "cgroup_skb"),
]


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_sock_helper_probe_against_kernel(probe):
    assert_like_kernel(probe)


@needs_kernel
@pytest.mark.parametrize("probe", MAP_PROBES, ids=lambda p: p.name)
def test_sock_map_update_probe_against_kernel(probe):
    """Modelled by every engine: the kernel's verdict and last line; Z3 agrees."""
    assert_same_verdict(probe)
    j = probe.judge()
    if not j.kernel_ok:
        assert j.ours_msg.splitlines()[-1] == rejection_reason(j.kernel_log), probe.name
    assert probe.name.endswith("_ok") == j.kernel_ok, probe.name


@needs_kernel
@pytest.mark.parametrize("probe", VERIFIER_ONLY, ids=lambda p: p.name)
def test_sockmap_value_helpers(probe):
    j = probe.judge()
    kmsg = "accept" if j.kernel_ok else rejection_reason(j.kernel_log)
    assert (j.ours_msg.splitlines()[-1] if j.ours_msg else "accept") == kmsg, probe.name
    assert probe.name.endswith("_ok") == j.kernel_ok, kmsg
    assert not j.z3_failed or not j.kernel_ok, j.z3_why  # never unsafe where accepted
    assert not j.z3_safe or j.kernel_ok, j.z3_why
    if j.kernel_ok:  # the interpreter: a run, or a "not modelled" fault, never a refusal
        from model.interp.machine import Machine

        obj, prog = probe.model()
        r = Machine(prog, obj.maps).run(packet=bytes(64))
        assert r.status == "exit" or "not modelled" in str(r.fault), r.fault


# bpf_skc_to_* on a BTF-typed socket (tp_btf/tcp_destroy_sock(struct sock *sk)): the cast
# of a trusted pointer is a plain one, maybe NULL; reads walk struct tcp_sock's BTF
_TP = "tp_btf/tcp_destroy_sock"
_SK = "r1 = *(u64 *)(r1 + 0)\n"
TRACING = [
    ("tp_skc_tcp_ok", _SK + f"call {SKC_TO_TCP}\nif r0 == 0 goto out\n"
     "r0 = *(u32 *)(r0 + 0)\nout:\nr0 = 0\nexit"),
    ("tp_skc_tcp_unchecked", _SK + f"call {SKC_TO_TCP}\nr0 = *(u32 *)(r0 + 0)\nr0 = 0\nexit"),
    ("tp_skc_tcp_write", _SK + f"call {SKC_TO_TCP}\nif r0 == 0 goto out\nr1 = 0\n"
     "*(u32 *)(r0 + 0) = r1\nout:\nr0 = 0\nexit"),
    ("tp_skc_unix_ok", _SK + f"call {SKC_TO_UNIX}\nif r0 == 0 goto out\n"
     "r0 = *(u64 *)(r0 + 0)\nout:\nr0 = 0\nexit"),
    ("tp_skc_tcp_of_cast_ok", _SK + f"call {SKC_TO_TCP}\nif r0 == 0 goto out\nr1 = r0\n"
     f"call {SKC_TO_TCP6}\nout:\nr0 = 0\nexit"),
    # bpf_skc_to_mptcp_sock's argument is ARG_PTR_TO_SOCK_COMMON: no BTF pointer
    ("tp_skc_mptcp_of_btf", _SK + f"call {SKC_TO_MPTCP}\nr0 = 0\nexit"),
    ("tp_listener_of_btf", _SK + f"call {GET_LISTENER}\nr0 = 0\nexit"),
    ("tp_release_btf", _SK + f"call {SK_RELEASE}\nr0 = 0\nexit"),
]


@pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
@pytest.mark.parametrize("name,text", TRACING, ids=[t[0] for t in TRACING])
def test_skc_casts_of_btf_sockets(name, text):
    from tracing_probes import build, kernel_verdict, skv_verdict, z3_safe

    obj, prog = build(text, _TP)
    ours, k = skv_verdict(obj, prog), kernel_verdict(prog)
    assert ours.ok == k.ok, f"{name}: kernel {k.ok} ({k.msg}) | skv {ours.msg}"
    assert name.endswith("_ok") == k.ok, f"{name}: kernel {k.msg}"
    if not k.ok:
        assert ours.msg in k.log, f"{name}: kernel: {k.msg} | skv: {ours.msg}"
    # the Z3 engine follows these casts (model.symbolic.typed): safe only where the kernel is
    assert not z3_safe(obj, prog) or k.ok, name


@needs_kernel
@pytest.mark.parametrize("helper", [53, 70, GET_LISTENER, SKC_TO_TCP6, SKC_TO_TCP, 138, 139,
                                    140, SKC_TO_UNIX, SKC_TO_MPTCP])
def test_which_program_types_offer_the_helper(helper):
    """Every probe program type: the kernel's answer (unknown helper / refused argument) is
    skv's (its availability chain and the argument's first check)."""
    from soundness_probes import SECTION

    for ptype in sorted(SECTION):
        j = Probe(f"{ptype}_{helper}", ptype, f"r1 = 0\ncall {helper}\nr0 = 0\nexit\n").judge()
        kmsg = "accept" if j.kernel_ok else rejection_reason(j.kernel_log)
        assert (j.ours_msg.splitlines()[-1] if j.ours_msg else "accept") == kmsg, ptype
