"""The socket and lwt program types (lwt_in/out/xmit/seg6local, sk_skb, sk_msg,
flow_dissector, sk_lookup, sk_reuseport): contexts (model.platform.ctx_skb_types), helper
chains (model.platform.prototypes) and whole programs, judged by the running kernel.

The per-type ctx_access and helper-availability sweeps at each type's default attach type
are in tests/test_platform.py; here: the other attach types, the whole abstract verifier on
every context access, realistic C programs with unsafe twins, and the interpreter against
BPF_PROG_TEST_RUN."""

from __future__ import annotations

import subprocess
import sys

import pytest

from model.isa import Alu, Call, Exit, Load, Store, assemble, encode
from model.kernel import available
from model.platform.ctx_layouts import CtxAccess, ctx_access, ctx_layout
from model.platform.helpers import HELPER_NAMES, MAX_HELPER_ID
from model.platform.prototypes import helper_check
from model.program import BpfObject, Program
from model.verifier.checker import check_program
from soundness_probes import SECTION, Probe, assert_same_verdict

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
COUNTS: dict[str, int] = {}
NEW_TYPES = ("lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local", "sk_skb", "sk_msg",
             "flow_dissector", "sk_lookup", "sk_reuseport", "raw_tracepoint_writable",
             "netfilter")
#: (program type, section) for the attach types besides a type's default
ATTACH_VARIANTS = (("sk_skb", "sk_skb/stream_parser"), ("sk_skb", "sk_skb/verdict"),
                   ("sk_skb", "sk_skb"), ("sk_reuseport", "sk_reuseport/migrate"))


#: section -> (program type, expected attach type) as libbpf loads it
SECTIONS = {
    "lwt_in": ("lwt_in", 0), "lwt_out": ("lwt_out", 0), "lwt_xmit": ("lwt_xmit", 0),
    "lwt_seg6local": ("lwt_seg6local", 0), "sk_skb/stream_parser": ("sk_skb", 4),
    "sk_skb/stream_verdict": ("sk_skb", 5), "sk_skb/verdict": ("sk_skb", 38),
    "sk_skb": ("sk_skb", 0), "sk_msg": ("sk_msg", 7), "flow_dissector": ("flow_dissector", 17),
    "sk_lookup": ("sk_lookup", 36), "sk_reuseport": ("sk_reuseport", 39),
    "sk_reuseport/migrate": ("sk_reuseport", 40),
    "raw_tp.w/nbd_send_request": ("raw_tracepoint_writable", 0),
    "raw_tracepoint.w/x": ("raw_tracepoint_writable", 0), "netfilter": ("netfilter", 45),
}


def test_sections_give_type_and_attach_type():
    from model.platform.prog_types import prog_type_unmodelled

    for section, (pt, at) in SECTIONS.items():
        p = Program("t", section, R0)
        assert (p.prog_type, p.attach_type) == (pt, at), section
        assert prog_type_unmodelled(pt, section, typed=True, attach_type=at) is None


def _count(what: str, n: int = 1) -> None:
    COUNTS[what] = COUNTS.get(what, 0) + n


def _kernel_load(prog: Program):
    from model.kernel import prog_load

    r = prog_load(prog.prog_type, encode(prog.insns), log_level=1, stats=False,
                  expected_attach_type=prog.attach_type)
    r.close()
    return r


R0 = [Alu("mov", True, 0, None, 0), Exit()]


def _access(off: int, size: int, write: bool) -> list:
    if write:
        return [Alu("mov", True, 2, None, 0), Store(size, 1, off, 2)] + R0
    return [Load(size, 2, 1, off)] + R0


# --- contexts -------------------------------------------------------------------------------
@needs_kernel
@pytest.mark.parametrize("pt,section", ATTACH_VARIANTS, ids=lambda x: x)
def test_ctx_sweep_other_attach_types(pt, section):
    """ctx_access at the non-default attach types agrees with the kernel everywhere."""
    at = Program("t", section, R0).attach_type
    bad = []
    for off in range(-9, ctx_layout(pt, attach_type=at).size + 9):
        for size in (1, 2, 4, 8):
            for write in (False, True):
                p = Program("t", section, _access(off, size, write))
                want = isinstance(ctx_access(pt, off, size, write, attach_type=at), CtxAccess)
                _count("ctx loads (attach variants)")
                if _kernel_load(p).ok != want:
                    bad.append((off, size, write, want))
    assert not bad, bad[:10]


@needs_kernel
@pytest.mark.parametrize("pt", NEW_TYPES)
def test_whole_verifier_ctx_sweep(pt):
    """Every load and store (BPF_STX) around the context through the whole abstract
    verifier: its verdict is the kernel's, and its message the kernel's where it rejects
    (every field modelled, __sk_buff->flow_keys too)."""
    from model.kernel.oracle import rejection_reason

    section = SECTION[pt]
    bad = []
    for off in range(-9, ctx_layout(pt).size + 9):
        for size in (1, 2, 4, 8):
            for write in (False, True):
                p = Program("t", section, _access(off, size, write))
                k = _kernel_load(p)
                v = check_program(BpfObject("t", "GPL", {}, [p]), p)
                _count("whole-verifier ctx loads")
                msg = "" if v.accepted else v.error.message.splitlines()[-1]
                if v.accepted != k.ok or not k.ok and msg != rejection_reason(k.log):
                    bad.append((off, size, write, k.ok, msg))
    assert not bad, bad[:10]


FK = "r2 = *(u64 *)(r1 + 144)\n"
#: PTR_TO_FLOW_KEYS: constant offsets only, accesses inside struct bpf_flow_keys (56 bytes)
FLOW_KEYS = {
    "read_ok": FK + "r3 = *(u16 *)(r2 + 0)", "write_ok": FK + "r3 = 1\n*(u32 *)(r2 + 52) = r3",
    "write_u64_at_end": FK + "r3 = 1\n*(u64 *)(r2 + 52) = r3",
    "moved_ok": FK + "r2 += 8\nr3 = *(u32 *)(r2 + 44)",
    "moved_past": FK + "r2 += 8\nr3 = *(u32 *)(r2 + 48)",
    "variable_offset": FK + "r6 = r2\ncall 7\nr0 &= 7\nr6 += r0\nr3 = *(u8 *)(r6 + 0)",
    "negative": FK + "r2 += -4\nr3 = *(u32 *)(r2 + 0)",
    "negative_insn_off": FK + "r3 = *(u32 *)(r2 - 4)",
    "atomic": FK + "r3 = 1\nlock *(u32 *)(r2 + 0) += r3",
    "helper_arg": FK + "r3 = r2\nr2 = 0\nr4 = 8\ncall 26",
    "st_imm_ok": FK + "*(u32 *)(r2 + 4) = 7", "store_ptr_ok": FK + "*(u64 *)(r2 + 16) = r2",
    "unaligned_ok": FK + "r3 = *(u32 *)(r2 + 1)",
    "spill_ok": FK + "*(u64 *)(r10 - 8) = r2\nr4 = *(u64 *)(r10 - 8)\nr3 = *(u8 *)(r4 + 55)",
    "sub_ok": FK + "r2 += 16\nr2 -= 8\nr3 = *(u64 *)(r2 + 0)",
    "compare_null_ok": FK + "if r2 == 0 goto +1\nr3 = *(u8 *)(r2 + 0)",
    "and": FK + "r2 &= 7", "alu32": FK + "w2 += 4", "ctx_u32": "r2 = *(u32 *)(r1 + 144)",
}


def _verifier_only(probe: Probe) -> None:
    """What only the abstract verifier models: its verdict and message are the kernel's
    (``_ok`` names what the kernel accepts); the Z3 engine finds no unsafe execution in
    what the kernel accepts, only budgets left to the verifier."""
    from model.kernel.oracle import rejection_reason
    from model.symbolic.engine import Engine

    k = probe.kernel()
    obj, prog = probe.model()
    v = check_program(obj, prog)
    kmsg = "accept" if k.ok else rejection_reason(k.log)
    assert ("accept" if v.accepted else v.error.message.splitlines()[-1]) == kmsg
    assert probe.name.endswith("_ok") == k.ok, kmsg
    z = Engine(obj, prog).run()
    if k.ok:
        assert not z.failures and all(e.startswith("not modelled") for e in z.exhausted)
    else:  # never "safe" where the kernel rejects
        assert z.failures or z.exhausted, [f.reason for f in z.failures]


# --- helpers --------------------------------------------------------------------------------
@needs_kernel
@pytest.mark.parametrize("pt,section", ATTACH_VARIANTS, ids=lambda x: x)
def test_helper_availability_other_attach_types(pt, section):
    """Every helper id at the non-default attach types: refused exactly as helper_check
    says (the default attach types: tests/test_platform.py)."""
    at = Program("t", section, R0).attach_type
    bad = []
    for hid in range(1, MAX_HELPER_ID + 1):
        p = Program("t", section, [Call(0, hid)] + R0)
        r = _kernel_load(p)
        want = helper_check(pt, hid, attach_type=at)
        _count("helper loads (attach variants)")
        if want is None and not r.ok and ("cannot use helper" in r.log
                                          or "not supported" in r.log):
            bad.append((hid, HELPER_NAMES[hid], r.log.strip().splitlines()[-1]))
        elif want is not None and (r.ok or want not in r.log):
            bad.append((hid, HELPER_NAMES[hid], "kernel", r.ok, want))
    assert not bad, bad[:10]


@needs_kernel
@pytest.mark.parametrize("pt", NEW_TYPES)
def test_ld_abs_is_refused(pt):
    """may_access_skb: LD_ABS / LD_IND only in socket filters and tc programs."""
    from model.isa.insn import LegacyLoad

    insns = [Alu("mov", True, 6, 1), LegacyLoad(1, "abs", None, 0)] + R0
    p = Program("t", SECTION[pt], insns)
    k = _kernel_load(p)
    v = check_program(BpfObject("t", "GPL", {}, [p]), p)
    _count("LD_ABS loads")
    want = "BPF_LD_[ABS|IND] instructions not allowed for this program type"
    assert not k.ok and want in k.log and not v.accepted and want in v.error.message


# --- small programs: the kernel, the verifier and Z3 agree ---------------------------------
def _p(name: str, pt: str, text: str) -> Probe:
    return Probe(name, pt, text + "\nr0 = 0\nexit\n")


PKT_SKB = "r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr4 = r2\nr4 += 8\n" \
          "if r4 > r3 goto +{skip}\n"
PKT_MD = "r2 = *(u64 *)(r1 + 0)\nr3 = *(u64 *)(r1 + 8)\nr4 = r2\nr4 += 8\n" \
         "if r4 > r3 goto +{skip}\n"
PROBES = [
    _p("seg6_read_ok", "lwt_seg6local", PKT_SKB.format(skip=1) + "r5 = *(u32 *)(r2 + 4)"),
    _p("seg6_write", "lwt_seg6local", PKT_SKB.format(skip=2) + "r5 = 0\n*(u8 *)(r2 + 0) = r5"),
    _p("seg6_adjust_srh_ok", "lwt_seg6local", "r2 = 0\nr3 = 8\ncall 75"),
    _p("seg6_cb_write_ok", "lwt_seg6local", "r2 = 1\n*(u64 *)(r1 + 48) = r2"),
    _p("lwt_xmit_stale_after_change_head", "lwt_xmit",
       "r6 = r1\n" + PKT_SKB.format(skip=5).replace("r1 +", "r6 +") +
       "r1 = r6\nr2 = 14\nr3 = 0\ncall 43\nr0 = *(u8 *)(r2 + 0)"),
    _p("lwt_in_reads_family", "lwt_in", "r2 = *(u32 *)(r1 + 88)"),
    _p("lwt_out_data_meta", "lwt_out", "r2 = *(u32 *)(r1 + 140)"),
    _p("sk_skb_cb_read_ok", "sk_skb", "r2 = *(u64 *)(r1 + 48)"),
    _p("sk_skb_cb_write", "sk_skb", "r2 = 1\n*(u32 *)(r1 + 48) = r2"),
    _p("sk_skb_tc_index_write_ok", "sk_skb", "r2 = 1\n*(u32 *)(r1 + 44) = r2"),
    _p("sk_skb_local_port_ok", "sk_skb", "r2 = *(u16 *)(r1 + 136)"),
    _p("sk_skb_write_ok", "sk_skb", PKT_SKB.format(skip=2) + "r5 = 0\n*(u64 *)(r2 + 0) = r5"),
    _p("sk_msg_size_narrow", "sk_msg", "r2 = *(u16 *)(r1 + 68)"),
    _p("sk_msg_size_ok", "sk_msg", "r2 = *(u32 *)(r1 + 68)"),
    _p("sk_msg_data_u32", "sk_msg", "r2 = *(u32 *)(r1 + 0)"),
    _p("sk_msg_write_ok", "sk_msg", PKT_MD.format(skip=2) + "r5 = 0\n*(u32 *)(r2 + 4) = r5"),
    _p("sk_msg_stale_after_pull", "sk_msg",
       "r6 = r1\n" + PKT_MD.format(skip=6).replace("r1 +", "r6 +") +
       "r1 = r6\nr2 = 0\nr3 = 4\nr4 = 0\ncall 63\nr0 = *(u8 *)(r2 + 0)"),
    _p("sk_msg_cork_ok", "sk_msg", "r2 = 64\ncall 62"),
    _p("sk_lookup_remote_port_u32_ok", "sk_lookup", "r2 = *(u32 *)(r1 + 36)"),
    _p("sk_lookup_padding_ok", "sk_lookup", "r2 = *(u16 *)(r1 + 38)"),
    _p("sk_lookup_local_port_u64", "sk_lookup", "r2 = *(u64 *)(r1 + 56)"),
    _p("sk_lookup_write", "sk_lookup", "r2 = 1\n*(u32 *)(r1 + 8) = r2"),
    _p("sk_reuseport_eth_u8", "sk_reuseport", "r2 = *(u8 *)(r1 + 20)"),
    _p("sk_reuseport_eth_u16_ok", "sk_reuseport", "r2 = *(u16 *)(r1 + 22)"),
    _p("sk_reuseport_hash_u16", "sk_reuseport", "r2 = *(u16 *)(r1 + 32)"),
    _p("sk_reuseport_read_ok", "sk_reuseport", PKT_MD.format(skip=1) + "r5 = *(u64 *)(r2 + 0)"),
    _p("flow_dissector_data_meta", "flow_dissector", "r2 = *(u32 *)(r1 + 140)"),
    _p("flow_dissector_load_bytes_ok", "flow_dissector",
       "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 8\ncall 26"),
    _p("flow_dissector_write_pkt", "flow_dissector",
       PKT_SKB.format(skip=2) + "r5 = 0\n*(u8 *)(r2 + 0) = r5"),
]


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_probe_against_kernel(probe):
    assert_same_verdict(probe)
    _count("probe programs")


TP = "r2 = *(u64 *)(r1 + 0)\n"
#: raw_tp.w: args[0] read whole is PTR_TO_TP_BUFFER (any constant offset >= 0)
TP_BUFFER = {
    "read_ok": TP + "r3 = *(u64 *)(r2 + 0)", "far_ok": TP + "r3 = *(u32 *)(r2 + 4096)",
    "write_ok": TP + "r3 = 5\n*(u32 *)(r2 + 8) = r3", "st_ok": TP + "*(u32 *)(r2 + 8) = 5",
    "negative": TP + "r3 = *(u32 *)(r2 - 4)",
    "moved_negative": TP + "r2 += -8\nr3 = *(u32 *)(r2 + 4)",
    "moved_ok": TP + "r2 += 16\nr3 = *(u32 *)(r2 - 8)",
    "variable": TP + "r6 = r2\ncall 7\nr0 &= 7\nr6 += r0\nr3 = *(u8 *)(r6 + 0)",
    "atomic_ok": TP + "r3 = 1\nlock *(u64 *)(r2 + 0) += r3",
    "store_pointer_ok": TP + "*(u64 *)(r2 + 0) = r2", "helper_arg": TP + "r1 = r2\nr2 = 8\ncall 6",
    "arg0_u32": "r2 = *(u32 *)(r1 + 0)", "arg0_high_ok": "r2 = *(u32 *)(r1 + 4)",
    "arg0_byte7_ok": "r2 = *(u8 *)(r1 + 7)", "write_ctx": "r2 = 0\n*(u64 *)(r1 + 8) = r2",
    "unaligned_ok": TP + "r3 = *(u32 *)(r2 + 3)",
}


NF_SKB, NF_STATE = "r2 = *(u64 *)(r1 + 8)\n", "r2 = *(u64 *)(r1 + 0)\n"
#: netfilter: the context's skb and state are trusted vmlinux pointers (sk_buff.len at 112,
#: sk at 24; nf_hook_state.hook at 0, in at 8 on this kernel's BTF)
NETFILTER = {
    "skb_len_ok": NF_SKB + "r3 = *(u32 *)(r2 + 112)", "hook_ok": NF_STATE + "r3 = *(u8 *)(r2 + 0)",
    "in_dev_deref_ok": NF_STATE + "r3 = *(u64 *)(r2 + 8)\nr4 = *(u32 *)(r3 + 0)",
    "skb_write": NF_SKB + "r3 = 1\n*(u32 *)(r2 + 112) = r3",
    "skb_past_end": NF_SKB + "r3 = *(u32 *)(r2 + 30000)",
    "ctx_write": "r2 = 0\n*(u64 *)(r1 + 8) = r2", "skb_sk_ok": NF_SKB + "r3 = *(u64 *)(r2 + 24)",
    "skb_load_bytes": "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 8\ncall 26",
    "skb_moved_ok": NF_SKB + "r2 += 112\nr3 = *(u32 *)(r2 + 0)",
}

#: what only the abstract verifier models: (program type, case name, program text)
VERIFIER_ONLY_CASES = [("flow_dissector", n, t) for n, t in FLOW_KEYS.items()] + \
    [("raw_tracepoint_writable", n, t) for n, t in TP_BUFFER.items()] + \
    [("netfilter", n, t) for n, t in NETFILTER.items()]


@needs_kernel
@pytest.mark.parametrize("pt,name,text", VERIFIER_ONLY_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in VERIFIER_ONLY_CASES])
def test_typed_pointers_against_kernel(pt, name, text):
    """__sk_buff->flow_keys (PTR_TO_FLOW_KEYS), raw_tp.w's buffer (PTR_TO_TP_BUFFER),
    netfilter's trusted skb / state: verdict and message are the kernel's; the Z3 engine
    follows them (model.symbolic.kmem): never unsafe where the kernel accepts, never safe
    where it rejects (a variable offset, such memory given to a helper: left to the
    verifier)."""
    _verifier_only(Probe(name, pt, text + "\nr0 = 1\nexit\n"))
    _count(f"{pt} typed-pointer programs")


# --- sockets from a sockmap / sockhash lookup (a reference), sk_lookup's bpf_sk_assign ------
LOOKUP = ("r6 = r1\nr2 = 0\n*(u32 *)(r10 - 4) = r2\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\n"
          "call 1\n")
RELEASE = "r1 = r0\ncall 86\n"
SOCK_REF = [
    ("assign_release_ok", "sk_lookup", LOOKUP + "if r0 == 0 goto +7\nr7 = r0\nr1 = r6\n"
     "r2 = r0\nr3 = 0\ncall 124\nr1 = r7\ncall 86\nr0 = 1\nexit"),
    ("assign_no_release", "sk_lookup", LOOKUP + "if r0 == 0 goto +4\nr1 = r6\nr2 = r0\n"
     "r3 = 0\ncall 124\nr0 = 1\nexit"),
    ("assign_unchecked", "sk_lookup", LOOKUP + "r7 = r0\nr1 = r6\nr2 = r0\nr3 = 0\n"
     "call 124\nif r7 == 0 goto +2\nr1 = r7\ncall 86\nr0 = 1\nexit"),
    ("assign_null_ok", "sk_lookup", "r2 = 0\nr3 = 0\ncall 124\nr0 = 1\nexit"),
    ("assign_ctx", "sk_lookup", "r2 = r1\nr3 = 0\ncall 124\nr0 = 1\nexit"),
    ("read_field_ok", "sk_lookup", LOOKUP + "if r0 == 0 goto +3\nr2 = *(u32 *)(r0 + 4)\n"
     + RELEASE + "r0 = 1\nexit"),
    ("tc_release_ok", "sched_cls", LOOKUP + "if r0 == 0 goto +2\n" + RELEASE + "r0 = 0\nexit"),
    ("tc_leak", "sched_cls", LOOKUP + "r0 = 0\nexit"),
    ("release_unchecked", "sk_skb", LOOKUP + RELEASE + "r0 = 0\nexit"),
    ("read_unchecked", "xdp", LOOKUP + "r1 = *(u32 *)(r0 + 4)\nr0 = 0\nexit"),
    ("write_sock", "sched_cls", LOOKUP + "if r0 == 0 goto +4\nr1 = 1\n*(u32 *)(r0 + 4) = r1\n"
     + RELEASE + "r0 = 0\nexit"),
    ("spill_ok", "sched_cls", LOOKUP + "*(u64 *)(r10 - 16) = r0\nr0 = *(u64 *)(r10 - 16)\n"
     "if r0 == 0 goto +2\n" + RELEASE + "r0 = 0\nexit"),
    ("double_release", "sched_cls", LOOKUP + "if r0 == 0 goto +4\nr7 = r0\n" + RELEASE
     + "r1 = r7\ncall 86\nr0 = 0\nexit"),
    ("use_after_release", "sched_cls", LOOKUP + "if r0 == 0 goto +4\nr7 = r0\n" + RELEASE
     + "r0 = *(u32 *)(r7 + 4)\nr0 = 0\nexit"),
]


@needs_kernel
@pytest.mark.parametrize("map_type", [15, 18], ids=["sockmap", "sockhash"])
@pytest.mark.parametrize("name,pt,text", SOCK_REF, ids=[c[0] for c in SOCK_REF])
def test_socket_references_against_kernel(name, pt, text, map_type):
    """The abstract verifier tracks the reference a sockmap / sockhash lookup returns
    (map_value_or_null until checked, then sock) and sk_lookup's bpf_sk_assign argument:
    verdict and message are the kernel's; the Z3 engine leaves them to it (never safe)."""
    _verifier_only(Probe(name, pt, text, [(map_type, 4, 4, 1, 0)]))
    _count("socket reference programs")


# --- realistic C programs ----------------------------------------------------------------------
#: programs the kernel accepts that skv rejects cleanly, with the reason's start
NOT_MODELLED: dict[str, str] = {}


@pytest.fixture(scope="module")
def skb_object(compile_bpf):
    from skb_type_sources import SOURCE

    return compile_bpf(SOURCE, "skb_types")


@needs_kernel
def test_c_programs_against_kernel(skb_object):
    """Each program of tests/skb_type_sources.py: skv's verdict (and rejection message) is
    the kernel's; Z3 finds no unsafe execution in what the kernel accepts and calls nothing
    safe that it rejects."""
    from model.elf.loader import load_object
    from model.kernel.objload import load_program
    from model.kernel.oracle import rejection_reason
    from model.symbolic.engine import Engine

    obj = load_object(skb_object)
    assert {p.prog_type for p in obj.programs} == set(NEW_TYPES) - {"lwt_seg6local"}
    for prog in obj.programs:
        k = load_program(obj, prog)
        k.close()
        v = check_program(obj, prog)
        z = Engine(obj, prog).run()
        _count("C programs")
        kmsg = "accept" if k.ok else rejection_reason(k.log)
        ours = "accept" if v.accepted else v.error.message.splitlines()[-1]
        where = f"{prog.name} ({prog.prog_type}): kernel {kmsg}; ours {ours}"
        assert prog.name.endswith("_ok") == k.ok, where
        if prog.name in NOT_MODELLED:
            assert ours.startswith(NOT_MODELLED[prog.name]), where
            continue
        assert ours == kmsg, where
        if k.ok:
            assert not z.failures, (where, [f.reason for f in z.failures])
        else:
            assert z.failures or z.exhausted, where


def test_skv_check_gives_a_row_per_program(skb_object):
    """``skv check`` on the object: a row per program, no crash, no soundness alarm."""
    from model.elf.loader import load_object

    names = [p.name for p in load_object(skb_object).programs]
    r = subprocess.run([sys.executable, "-m", "model.cli", "check", skb_object],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "SOUNDNESS BUG" not in r.stdout + r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith(skb_object + "  ")]
    assert sorted(line.split()[1] for line in rows) == sorted(names)


# --- the interpreter against BPF_PROG_TEST_RUN -------------------------------------------------
RUN_PROGRAMS = [f"w0 = *(u32 *)(r1 + {off})\nexit" for off in (0, 16, 36, 40)] + [
    "r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr0 = 0\nr4 = r2\nr4 += 2\n"
    "if r4 > r3 goto +1\nr0 = *(u8 *)(r2 + 1)\nexit"]
FLOW_RUN_PROGRAMS = [
    FK + "r0 = *(u16 *)(r2 + 0)\nr3 = *(u16 *)(r2 + 2)\nr0 += r3\nexit",
    FK + "r0 = *(u16 *)(r2 + 10)\nexit", FK + "r0 = *(u32 *)(r2 + 16)\nexit",
    FK + "r3 = 17\n*(u8 *)(r2 + 9) = r3\nr0 = *(u32 *)(r2 + 8)\nexit",
    RUN_PROGRAMS[-1].replace("r4 += 2", "r4 += 16").replace("(r2 + 1)", "(r2 + 15)")]
FRAMES = [bytes(14), b"\xaa" + bytes(13) + b"\xbb" + bytes(49),
          bytes(12) + b"\x08\x00" + b"\x45\x77" + bytes(48)]


@needs_kernel
@pytest.mark.parametrize("section", ["lwt_in", "lwt_out", "lwt_xmit", "flow_dissector"])
def test_interpreter_matches_kernel_test_run(section):
    """lwt programs see the packet after its Ethernet header: skb->len, protocol, ifindex
    and the packet bytes agree with the kernel's test run; a flow dissector sees the whole
    frame and the flow keys the test run starts it with."""
    from model.interp import Machine
    from model.kernel import run

    texts = FLOW_RUN_PROGRAMS if section == "flow_dissector" else RUN_PROGRAMS
    for text in texts:
        insns = assemble(text)
        p = Program("t", section, insns)
        for frame in FRAMES:
            kernel = run(encode(insns), p.prog_type, frame).retval
            ours = Machine(p).run(None, frame)
            _count("test runs")
            assert ours.ok and ours.r0 & 0xFFFFFFFF == kernel, (text, frame.hex(), kernel, ours)


def _sk_lookup_ctx(family: int, proto: int, rport: int, lport: int) -> bytes:
    """A struct bpf_sk_lookup for BPF_PROG_TEST_RUN (ingress_ifindex must be 0)."""
    import struct

    b = bytearray(72)
    struct.pack_into("<IIII", b, 8, family, proto, 0x0100007F, 0x20010DB8)
    struct.pack_into("<HH", b, 36, rport, 0)
    struct.pack_into("<II", b, 40, 0x0200007F, 0x20010DB8)
    struct.pack_into("<I", b, 60, lport)
    return bytes(b)


#: (offset, size, value): the program returns whether the field reads as the value
SK_LOOKUP_READS = [(8, 4, 2), (8, 4, 10), (12, 4, 6), (12, 4, 17), (16, 4, 0x0100007F),
                   (16, 2, 0x7F), (20, 4, 0x20010DB8), (36, 2, 0x3412), (36, 4, 0x3412),
                   (37, 1, 0x34), (38, 2, 0), (40, 4, 0x0200007F), (44, 4, 0x20010DB8),
                   (60, 4, 8080), (60, 2, 8080), (64, 4, 0), (0, 8, 0)]


@needs_kernel
def test_interpreter_matches_kernel_sk_lookup_test_run():
    """sk_lookup: the context is the test run's ctx_in, its socket NULL; every field read
    agrees with the kernel's test run."""
    from model.interp import Machine
    from model.kernel import run

    for c in (_sk_lookup_ctx(2, 6, 0x3412, 8080), _sk_lookup_ctx(10, 17, 0x5000, 53)):
        for off, size, val in SK_LOOKUP_READS:
            insns = assemble(f"r2 = *(u{8 * size} *)(r1 + {off})\nr0 = 0\n"
                             f"if r2 != {val} goto +1\nr0 = 1\nexit")
            kernel = run(encode(insns), "sk_lookup", None, ctx_in=c,
                         expected_attach_type=36).retval
            ours = Machine(Program("t", "sk_lookup", insns)).run(c, None)
            _count("test runs")
            assert ours.ok and ours.r0 == kernel, (off, size, val, kernel, ours)


@pytest.mark.parametrize("section", ["sk_msg", "sk_reuseport", "lwt_seg6local",
                                     "raw_tp.w/nbd_send_request", "netfilter"])
def test_interpreter_says_not_modelled(section):
    from model.errors import NotModelled
    from model.interp import Machine

    with pytest.raises(NotModelled, match="not modelled: running"):
        Machine(Program("t", section, assemble("r0 = 0\nexit"))).run(None, bytes(64))


@needs_kernel
def test_zz_report_counts():
    """Printed with -s: how many kernel comparisons this file made."""
    print(f"\nskb program types vs kernel: {COUNTS}")
    assert sum(COUNTS.values()) > 0
