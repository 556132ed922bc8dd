"""A BTF-typed socket pointer handed to a helper taking ``ARG_PTR_TO_BTF_ID_SOCK_COMMON``
(bpf_get_socket_cookie in BTF-typed programs: bpf_get_socket_ptr_cookie_proto, NULL allowed):
check_reg_type's trust rules and btf_struct_ids_match (the struct at the pointer's offset
must be, or begin with, a ``struct sock_common``). Each probe is a tp_btf program judged by
skv's abstract verifier and by the running kernel (tp_btf loads are verified here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracing_probes import build, compare, kernel_verdict, member_off, skv_verdict

pytestmark = pytest.mark.skipif(not Path("/sys/kernel/btf/vmlinux").exists(),
                                reason="no kernel BTF (/sys/kernel/btf/vmlinux)")

PROBE = "tp_btf/tcp_probe"           # tcp_probe(struct sock *sk, struct sk_buff *skb)
DESTROY = "tp_btf/tcp_destroy_sock"  # tcp_destroy_sock(struct sock *sk)
COOKIE = "call 46\nr0 = 0\nexit"


def probes() -> list[tuple[str, str, str, bool, str | None]]:
    skb_sk = member_off("sk_buff", "sk")
    sk_socket = member_off("sock", "sk_socket")
    return [
        ("sock", DESTROY, "r1 = *(u64 *)(r1 + 0)\n" + COOKIE, True, None),
        ("sock_of_probe", PROBE, "r1 = *(u64 *)(r1 + 0)\n" + COOKIE, True, None),
        ("null", DESTROY, "r1 = 0\n" + COOKIE, True, None),
        ("skb", PROBE, "r1 = *(u64 *)(r1 + 8)\n" + COOKIE, False,
         "is of type sk_buff but sock_common is expected"),
        ("sock_plus_8", DESTROY, "r1 = *(u64 *)(r1 + 0)\nr1 += 8\n" + COOKIE, False,
         "is of type sock but sock_common is expected"),
        ("scalar", DESTROY, "r1 = 5\n" + COOKIE, False, "R1 type=scalar expected="),
        ("ctx", DESTROY, COOKIE, False, "R1 type=ctx expected="),
        ("variable_offset", DESTROY,
         "r6 = *(u64 *)(r1 + 0)\ncall 7\nr0 &= 8\nr1 = r6\nr1 += r0\n" + COOKIE, False,
         "variable trusted_ptr_ access"),
        ("task", DESTROY, "call 158\nr1 = r0\n" + COOKIE, False,
         "is of type task_struct but sock_common is expected"),
        ("skb_sk", PROBE, f"r1 = *(u64 *)(r1 + 8)\nr1 = *(u64 *)(r1 + {skb_sk})\n" + COOKIE,
         None, None),
        ("sk_socket", DESTROY,
         f"r1 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r1 + {sk_socket})\n" + COOKIE, False,
         "is of type socket but sock_common is expected"),
    ]


PROBES = probes() if Path("/sys/kernel/btf/vmlinux").exists() else []


@pytest.mark.parametrize("name,section,text,expect,frag", PROBES, ids=[p[0] for p in PROBES])
def test_sock_common_argument(name, section, text, expect, frag):
    from model.kernel import available

    obj, prog = build(text, section)
    ours = skv_verdict(obj, prog)
    if expect is not None:
        assert ours.ok == expect, f"{name}: skv {ours.ok} ({ours.msg})"
    if frag is not None:
        assert frag in ours.msg, f"{name}: {ours.msg}"
    ok, why = available()
    if not ok:
        pytest.skip(f"skv's verdict asserted; no kernel comparison: {why}")
    k = compare(name, prog, ours, {})
    if not k.ok:
        assert ours.msg in k.log, f"{name}: kernel: {k.msg} | skv: {ours.msg}"


def test_the_kernel_agrees_with_the_expectations():
    """Every probe's expected verdict is the running kernel's (the table is not a guess)."""
    from model.kernel import available

    ok, why = available()
    if not ok:
        pytest.skip(why)
    for name, section, text, expect, _ in PROBES:
        if expect is not None:
            assert kernel_verdict(build(text, section)[1]).ok == expect, name
