"""Probe programs with callbacks (bpf_loop, bpf_for_each_map_elem, ...) for
``tests/test_callbacks.py``: program text in ``model.isa.asm`` syntax plus ``rN = func
LABEL`` (``ld_imm64`` of the function at LABEL, a label on its own line), its program
type and maps. Every function start gets BTF func info (``Program.func_names``); the
kernel is given the same (``model.kernel.funcinfo``, through ``model.kernel.objload``).
Names ending in ``_ok`` are expected to load; the kernel decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from model.cfg.graph import func_starts
from model.isa import LoadImm64
from model.isa.asm import assemble
from model.program import BpfObject, MapDef, MapRef, Program

SECTION = {"xdp": "xdp", "sched_cls": "tc", "socket_filter": "socket", "kprobe": "kprobe/f",
           "cgroup_skb": "cgroup_skb/ingress", "sock_ops": "sockops",
           "tracepoint": "tracepoint/syscalls/sys_enter_nanosleep", "perf_event": "perf_event",
           "raw_tracepoint": "raw_tracepoint/sys_enter", "tp_btf": "tp_btf/sched_switch",
           "raw_tp": "raw_tp/sched_switch", "syscall": "syscall"}
_FUNC = re.compile(r"^\s*(r\d+) = func (\w+)\s*$")
_LABEL = re.compile(r"^\s*(\w+):\s*$")


def expand(text: str) -> str:
    """``rN = func LABEL`` -> ``ld_pseudo rN, 4, IMM`` with IMM = LABEL's pc - pc - 1."""
    lines = text.strip().splitlines()
    labels, pcs, pc = {}, [], 0
    for ln in lines:
        body = re.split(r"[#;]", ln, maxsplit=1)[0].strip()
        pcs.append(pc)
        m = _LABEL.match(body)
        if m:
            labels[m.group(1)] = pc
        elif body:
            two = _FUNC.match(body) or body.startswith("ld_pseudo") or body.endswith(" ll")
            pc += 2 if two else 1
    out = []
    for ln, at in zip(lines, pcs):
        m = _FUNC.match(ln)
        out.append(f"ld_pseudo {m.group(1)}, 4, {labels[m.group(2)] - at - 1}" if m else ln)
    return "\n".join(out) + "\n"


@dataclass
class CbProbe:
    name: str
    prog_type: str
    text: str
    maps: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # type,k,v,n,fl
    btf: bool = True  # give the program BTF func info

    def model(self) -> tuple[BpfObject, Program]:
        insns = assemble(expand(self.text))
        prog = Program(self.name, SECTION[self.prog_type], insns)
        for pc, i in prog.iter_pcs():
            if isinstance(i, LoadImm64) and i.src in (1, 2):
                prog.map_refs[pc] = MapRef(pc, f"m{i.imm}")
        if self.btf:
            prog.func_names = {pc: f"f{pc}" for pc in func_starts(prog)}
        maps = {f"m{k}": MapDef(f"m{k}", t, ks, vs, n, fl)
                for k, (t, ks, vs, n, fl) in enumerate(self.maps)}
        return BpfObject(self.name, "GPL", maps, [prog]), prog


def kernel_load(obj: BpfObject, prog: Program):
    """The kernel's LoadResult (fd closed), with BTF func info only if the probe has it."""
    if prog.func_names:
        return load_with_func_info(obj, prog, None)
    # no func info at all: the raw load the kernel refuses with "missing btf func_info"
    return load_with_func_info(obj, prog, lambda p: None)


def load_with_func_info(obj: BpfObject, prog: Program, func_info):
    """The kernel's LoadResult (fd closed), the program's BTF func info made by
    ``func_info`` (program -> (BTF blob, records) or None) instead of
    model.kernel.funcinfo.program_func_info when it is given."""
    from model.kernel import objload

    keep = objload.program_func_info
    if func_info is not None:
        objload.program_func_info = func_info
    try:
        res = objload.load_program(obj, prog)
    finally:
        objload.program_func_info = keep
    res.close()
    return res


ARRAY = (2, 4, 8, 4, 0)  # type, key_size, value_size, max_entries, flags
HASH = (1, 4, 8, 4, 0)
RDONLY_ARRAY = (2, 4, 8, 4, 1 << 7)

_LOOP = """r1 = 4
r2 = func cb
r3 = 0
r4 = 0
call 181
r0 = 0
exit
cb:
"""
# the caller passes fp-8 as the callback's ctx
_LOOP_CTX = """r1 = 4
r2 = func cb
r3 = r10
r3 += -8
r4 = 0
call 181
"""

PROBES = [
    CbProbe("loop_ok", "xdp", _LOOP + "r0 = 0\nexit\n"),
    CbProbe("loop_ret1_ok", "xdp", _LOOP + "r0 = 1\nexit\n"),
    CbProbe("loop_ret2", "xdp", _LOOP + "r0 = 2\nexit\n"),
    CbProbe("loop_ret_neg", "xdp", _LOOP + "r0 = -1\nexit\n"),
    CbProbe("loop_ret_index", "xdp", _LOOP + "r0 = r1\nexit\n"),
    CbProbe("loop_ret_index_masked_ok", "xdp", _LOOP + "r0 = r1\nr0 &= 1\nexit\n"),
    CbProbe("loop_ret_null_ctx_ok", "xdp", _LOOP + "r0 = r2\nexit\n"),
    CbProbe("loop_ret_stack", "xdp", _LOOP + "r0 = r10\nexit\n"),
    CbProbe("loop_ret_uninit", "xdp", _LOOP + "exit\n"),
    CbProbe("loop_cb_reads_r6", "xdp", _LOOP + "r0 = r6\nexit\n"),
    CbProbe("loop_cb_reads_r3", "xdp", _LOOP + "r0 = r3\nexit\n"),
    CbProbe("loop_r2_scalar", "xdp", "r1 = 4\nr2 = 0\nr3 = 0\nr4 = 0\ncall 181\nr0 = 0\nexit\n"),
    CbProbe("loop_r3_ctx", "xdp", "r3 = r1\nr1 = 4\nr2 = func cb\nr4 = 0\ncall 181\nr0 = 0\n"
            "exit\ncb:\nr0 = 0\nexit\n"),
    CbProbe("loop_r3_uninit", "xdp", "r1 = 4\nr2 = func cb\nr4 = 0\ncall 181\nr0 = 0\n"
            "exit\ncb:\nr0 = 0\nexit\n"),
    CbProbe("loop_flags_nonzero_ok", "xdp", _LOOP.replace("r4 = 0", "r4 = 1") +
            "r0 = 0\nexit\n"),
    CbProbe("loop_clobbers_r3", "xdp", _LOOP.replace("r0 = 0\nexit\ncb:", "r0 = r3\nexit\ncb:")
            + "r0 = 0\nexit\n"),
    CbProbe("loop_keeps_r6_ok", "xdp", "r6 = 7\n" + _LOOP.replace(
        "r0 = 0\nexit\ncb:", "r0 = r6\nexit\ncb:") + "r0 = 0\nexit\n"),
    CbProbe("loop_r0_is_scalar_ok", "xdp", _LOOP.replace(
        "r0 = 0\nexit\ncb:", "r0 &= 1\nexit\ncb:") + "r0 = 0\nexit\n"),
    CbProbe("loop_r0_unbounded_index", "xdp", "r6 = r1\n" + _LOOP.replace(
        "r0 = 0\nexit\ncb:", "r1 = r10\nr1 += -8\nr1 += r0\nr0 = *(u8 *)(r1 + 0)\nr0 = 0\n"
        "exit\ncb:") + "r0 = 0\nexit\n"),
    # the callback's ctx: a pointer into the caller's stack
    CbProbe("ctx_read_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" + _LOOP_CTX +
            "r0 = 0\nexit\ncb:\nr0 = *(u64 *)(r2 + 0)\nr0 = 0\nexit\n"),
    CbProbe("ctx_read_uninit_ok", "xdp", _LOOP_CTX +
            "r0 = 0\nexit\ncb:\nr0 = *(u64 *)(r2 + 0)\nr0 = 0\nexit\n"),
    CbProbe("ctx_read_oob", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" + _LOOP_CTX +
            "r0 = 0\nexit\ncb:\nr0 = *(u64 *)(r2 + 8)\nr0 = 0\nexit\n"),
    CbProbe("ctx_read_below_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 16) = r1\n" + _LOOP_CTX +
            "r0 = 0\nexit\ncb:\nr0 = *(u64 *)(r2 - 8)\nr0 = 0\nexit\n"),
    CbProbe("ctx_write_then_caller_reads_uninit_ok", "xdp", _LOOP_CTX +
            "r0 = *(u64 *)(r10 - 8)\nr0 = 0\nexit\ncb:\nr1 = 1\n*(u64 *)(r2 + 0) = r1\n"
            "r0 = 0\nexit\n"),
    CbProbe("ctx_write_then_caller_reads_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" +
            _LOOP_CTX + "r0 = *(u64 *)(r10 - 8)\nr0 = 0\nexit\ncb:\nr1 = 1\n"
            "*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit\n"),
    CbProbe("ctx_counter_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" + _LOOP_CTX +
            "r0 = *(u64 *)(r10 - 8)\nr0 = 0\nexit\ncb:\nr1 = *(u64 *)(r2 + 0)\nr1 += 1\n"
            "*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit\n"),
    CbProbe("ctx_counter_index_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n"
            "*(u64 *)(r10 - 16) = r1\n" + _LOOP_CTX +
            "r1 = *(u64 *)(r10 - 8)\nr2 = r10\nr2 += -16\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\n"
            "r0 = 0\nexit\ncb:\nr1 = *(u64 *)(r2 + 0)\nr1 += 1\n*(u64 *)(r2 + 0) = r1\n"
            "r0 = 0\nexit\n"),
    # the callback stores 100 in the caller's slot; the caller indexes its stack with it
    CbProbe("ctx_written_index_oob", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" + _LOOP_CTX +
            "r1 = *(u64 *)(r10 - 8)\nr2 = r10\nr2 += -16\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\n"
            "r0 = 0\nexit\ncb:\nr1 = 100\n*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit\n"),
    CbProbe("ctx_written_index_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n"
            "*(u64 *)(r10 - 16) = r1\n" + _LOOP_CTX +
            "r1 = *(u64 *)(r10 - 8)\nr2 = r10\nr2 += -16\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\n"
            "r0 = 0\nexit\ncb:\nr1 = 4\n*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit\n"),
    CbProbe("ctx_spill_callee_stack_ptr", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" +
            _LOOP_CTX + "r0 = 0\nexit\ncb:\n*(u64 *)(r2 + 0) = r10\nr0 = 0\nexit\n"),
    CbProbe("ctx_var_offset_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n"
            "*(u64 *)(r10 - 16) = r1\nr1 = 4\nr2 = func cb\nr3 = r10\nr3 += -16\n"
            "r5 = *(u32 *)(r10 - 8)\nr5 &= 8\nr3 += r5\nr4 = 0\ncall 181\nr0 = 0\nexit\n"
            "cb:\nr0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit\n"),
    CbProbe("cb_own_stack_ok", "xdp", _LOOP + "r1 = 5\n*(u64 *)(r10 - 8) = r1\n"
            "r0 = *(u64 *)(r10 - 8)\nr0 &= 1\nexit\n"),
    CbProbe("cb_index_oob", "xdp", _LOOP + "r2 = r10\nr2 += -8\nr2 += r1\n"
            "r0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit\n"),
    CbProbe("cb_index_bounded_ok", "xdp", _LOOP + "r3 = 0\n*(u64 *)(r10 - 8) = r3\n"
            "if r1 > 7 goto out\nr2 = r10\nr2 += -8\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\n"
            "out:\nr0 = 0\nexit\n"),
    # nesting and depth
    CbProbe("nested_ok", "xdp", _LOOP + "r1 = 2\nr2 = func cb2\nr3 = 0\nr4 = 0\ncall 181\n"
            "r0 = 0\nexit\ncb2:\nr0 = 0\nexit\n"),
    CbProbe("nested_ret2", "xdp", _LOOP + "r1 = 2\nr2 = func cb2\nr3 = 0\nr4 = 0\ncall 181\n"
            "r0 = 0\nexit\ncb2:\nr0 = 2\nexit\n"),
    CbProbe("combined_stack_too_large", "xdp", "r1 = 0\n*(u64 *)(r10 - 320) = r1\n" + _LOOP +
            "r1 = 0\n*(u64 *)(r10 - 256) = r1\nr0 = 0\nexit\n"),
    CbProbe("combined_stack_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 240) = r1\n" + _LOOP +
            "r1 = 0\n*(u64 *)(r10 - 240) = r1\nr0 = 0\nexit\n"),
]


def _chain(n: int) -> str:
    """main calls f1 .. f{n} (bpf-to-bpf), the last calls bpf_loop: n + 2 frames."""
    text = "call f1\nr0 = 0\nexit\n"
    for k in range(1, n):
        text += f"f{k}:\ncall f{k + 1}\nr0 = 0\nexit\n"
    return text + f"f{n}:\n" + _LOOP + "r0 = 0\nexit\n"


PROBES += [CbProbe("depth_8_frames_ok", "xdp", _chain(6)),
           CbProbe("depth_9_frames", "xdp", _chain(7))]

_VALUE = """ld_pseudo r1, 1, 0
r2 = func cb
r3 = 0
r4 = 0
call 164
r0 = 0
exit
cb:
"""
PROBES += [
    CbProbe("each_read_value_ok", "xdp", _VALUE + "r0 = *(u64 *)(r3 + 0)\nr0 = 0\nexit\n",
            [ARRAY]),
    CbProbe("each_read_value_oob", "xdp", _VALUE + "r0 = *(u64 *)(r3 + 4)\nr0 = 0\nexit\n",
            [ARRAY]),
    CbProbe("each_write_value_ok", "xdp", _VALUE + "r0 = 1\n*(u64 *)(r3 + 0) = r0\nr0 = 0\n"
            "exit\n", [HASH]),
    CbProbe("each_write_rdonly_value", "xdp", _VALUE + "r0 = 1\n*(u64 *)(r3 + 0) = r0\n"
            "r0 = 0\nexit\n", [RDONLY_ARRAY]),
    CbProbe("each_read_key_ok", "xdp", _VALUE + "r0 = *(u32 *)(r2 + 0)\nr0 = 0\nexit\n",
            [HASH]),
    CbProbe("each_read_key_oob", "xdp", _VALUE + "r0 = *(u64 *)(r2 + 0)\nr0 = 0\nexit\n",
            [HASH]),
    CbProbe("each_write_key", "xdp", _VALUE + "r0 = 1\n*(u32 *)(r2 + 0) = r0\nr0 = 0\n"
            "exit\n", [ARRAY]),
    CbProbe("each_key_to_lookup_ok", "xdp", _VALUE + "ld_pseudo r1, 1, 0\ncall 1\nr0 = 0\n"
            "exit\n", [ARRAY]),
    CbProbe("each_map_arg_ok", "xdp", _VALUE + "r0 = r1\nr0 = 0\nexit\n", [ARRAY]),
    CbProbe("each_ret2", "xdp", _VALUE + "r0 = 2\nexit\n", [ARRAY]),
    CbProbe("each_reads_r5", "xdp", _VALUE + "r0 = r5\nr0 = 0\nexit\n", [ARRAY]),
    CbProbe("each_ctx_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" +
            _VALUE.replace("r3 = 0", "r3 = r10\nr3 += -8") +
            "r0 = *(u64 *)(r4 + 0)\nr0 = 0\nexit\n", [ARRAY]),
    # no BTF func info: the kernel refuses any ld_imm64 of a function
    CbProbe("no_func_info", "xdp", _LOOP + "r0 = 0\nexit\n", btf=False),
]

# the caller's spilled pointer in the ctx slot; the callback may overwrite it
_SPILL = """ld_pseudo r1, 1, 0
r2 = r10
r2 += -16
r3 = 0
*(u64 *)(r10 - 16) = r3
call 1
if r0 == 0 goto out
*(u64 *)(r10 - 8) = r0
r1 = 4
r2 = func cb
r3 = r10
r3 += -8
r4 = 0
call 181
r1 = *(u64 *)(r10 - 8)
r0 = *(u64 *)(r1 + 0)
out:
r0 = 0
exit
cb:
"""
PROBES += [
    CbProbe("spilled_ptr_overwritten", "xdp", _SPILL + "r1 = 0\n*(u64 *)(r2 + 0) = r1\n"
            "r0 = 0\nexit\n", [ARRAY]),
    CbProbe("spilled_ptr_kept_ok", "xdp", _SPILL + "r0 = 0\nexit\n", [ARRAY]),
    CbProbe("spilled_ptr_read_in_cb_ok", "xdp", _SPILL + "r1 = *(u64 *)(r2 + 0)\n"
            "r0 = *(u64 *)(r1 + 0)\nr0 = 0\nexit\n", [ARRAY]),
    CbProbe("spilled_ptr_read_in_cb_oob", "xdp", _SPILL + "r1 = *(u64 *)(r2 + 0)\n"
            "r0 = *(u64 *)(r1 + 8)\nr0 = 0\nexit\n", [ARRAY]),
    CbProbe("spilled_ptr_moved_in_cb", "xdp", _SPILL + "r1 = *(u64 *)(r2 + 0)\nr1 += 8\n"
            "*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit\n", [ARRAY]),
    CbProbe("cb_stores_map_ptr_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n"
            "r1 = 1\nr2 = func cb\nr3 = r10\nr3 += -8\nr4 = 0\ncall 181\n"
            "r0 = 0\nexit\ncb:\nr6 = r2\nr1 = 0\n*(u64 *)(r10 - 8) = r1\nld_pseudo r1, 1, 0\n"
            "r2 = r10\nr2 += -8\ncall 1\nif r0 == 0 goto +1\n*(u64 *)(r6 + 0) = r0\n"
            "r0 = 0\nexit\n", [ARRAY]),
    CbProbe("loop_zero_bad_cb_ok", "xdp", _LOOP.replace("r1 = 4", "r1 = 0") +
            "r0 = *(u64 *)(r10 + 8)\nr0 = 0\nexit\n"),
    CbProbe("loop_one_bad_cb", "xdp", _LOOP.replace("r1 = 4", "r1 = 1") +
            "r0 = *(u64 *)(r10 + 8)\nr0 = 0\nexit\n"),
    CbProbe("loop_unknown_count_counter_ok", "xdp", "r6 = r1\nr1 = 0\n*(u64 *)(r10 - 8) = r1\n"
            "r1 = *(u32 *)(r6 + 12)\nr2 = func cb\nr3 = r10\nr3 += -8\nr4 = 0\ncall 181\n"
            "r0 = 0\nexit\ncb:\nr1 = *(u64 *)(r2 + 0)\nr1 += 1\n*(u64 *)(r2 + 0) = r1\n"
            "r0 = 0\nexit\n"),
    CbProbe("loop_unknown_count_index", "xdp", "r6 = r1\nr1 = 0\n*(u64 *)(r10 - 8) = r1\n"
            "*(u64 *)(r10 - 16) = r1\nr1 = *(u32 *)(r6 + 12)\nr2 = func cb\nr3 = r10\n"
            "r3 += -8\nr4 = 0\ncall 181\nr1 = *(u64 *)(r10 - 8)\nr2 = r10\nr2 += -16\n"
            "r2 += r1\nr0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit\ncb:\nr1 = *(u64 *)(r2 + 0)\n"
            "r1 += 1\n*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit\n"),
    CbProbe("loop_count_is_pointer", "xdp", "r6 = r1\nr1 = *(u32 *)(r6 + 0)\n"
            "r2 = func cb\nr3 = 0\nr4 = 0\ncall 181\nr0 = 0\nexit\ncb:\nr0 = 0\nexit\n"),
    CbProbe("main_512_stack_loop_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 512) = r1\n" + _LOOP +
            "r0 = 0\nexit\n"),
    CbProbe("cb_calls_subprog_ok", "xdp", _LOOP + "call sub\nr0 = 0\nexit\nsub:\nr0 = 1\n"
            "exit\n"),
    CbProbe("cb_subprog_ret_2", "xdp", _LOOP + "call sub\nexit\nsub:\nr0 = 2\nexit\n"),
    CbProbe("cb_subprog_ret_1_ok", "xdp", _LOOP + "call sub\nexit\nsub:\nr0 = 1\nexit\n"),
    CbProbe("nested_writes_grandparent_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" +
            _LOOP_CTX + "r0 = *(u64 *)(r10 - 8)\nr0 = 0\nexit\ncb:\nr3 = r2\nr1 = 2\n"
            "r2 = func cb2\nr4 = 0\ncall 181\nr0 = 0\nexit\ncb2:\nr1 = 7\n"
            "*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit\n"),
    CbProbe("nested_grandparent_index", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n"
            "*(u64 *)(r10 - 16) = r1\n" + _LOOP_CTX + "r1 = *(u64 *)(r10 - 8)\nr2 = r10\n"
            "r2 += -16\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit\ncb:\nr3 = r2\nr1 = 2\n"
            "r2 = func cb2\nr4 = 0\ncall 181\nr0 = 0\nexit\ncb2:\nr1 = 70\n"
            "*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit\n"),
    CbProbe("each_hash_percpu_ok", "xdp", _VALUE + "r0 = *(u64 *)(r3 + 0)\nr0 = 0\nexit\n",
            [(5, 4, 8, 4, 0)]),
    CbProbe("each_sum_compared_ok", "xdp", "r1 = 0\n*(u64 *)(r10 - 8) = r1\n" +
            _VALUE.replace("r3 = 0", "r3 = r10\nr3 += -8") +
            "r3 = *(u32 *)(r2 + 0)\nr5 = *(u64 *)(r4 + 0)\nr5 += r3\n"
            "*(u64 *)(r4 + 0) = r5\nr0 = 0\nif r5 < 99 goto +1\nr0 = 1\nexit\n", [ARRAY]),
    CbProbe("each_lookup_via_r1_ok", "xdp", _VALUE + "r6 = r1\nr2 = 0\n*(u32 *)(r10 - 4) = r2\n"
            "r1 = r6\nr2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto +1\n"
            "r0 = *(u64 *)(r0 + 0)\nr0 = 0\nexit\n", [ARRAY]),
    CbProbe("each_lookup_via_r1_oob", "xdp", _VALUE + "r6 = r1\nr2 = 0\n*(u32 *)(r10 - 4) = r2\n"
            "r1 = r6\nr2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto +1\n"
            "r0 = *(u64 *)(r0 + 8)\nr0 = 0\nexit\n", [ARRAY]),
    CbProbe("func_loaded_never_called_ok", "xdp", "r2 = func cb\nr0 = 0\nexit\ncb:\n"
            "r0 = *(u64 *)(r10 + 8)\nexit\n"),
    CbProbe("each_ringbuf", "xdp", _VALUE + "r0 = 0\nexit\n", [(27, 0, 0, 4096, 0)]),
]

# -- widening at a callback's call site (widen_imprecise_scalars): a counter at fp-16 of the
# caller (the callback's ctx), fp-8 a flag; the kernel widens what is not precise so far
_Z16 = "r1 = 0\n*(u64 *)(r10 - 8) = r1\n*(u64 *)(r10 - 16) = r1\n"
_INC = "r1 = *(u64 *)(r2 + 0)\nr1 += 1\n*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit\n"
#: the counter as a stack index after the loop: out of bounds from 8 on
_USE = "r1 = *(u64 *)(r10 - 16)\nr2 = r10\nr2 += -8\nr2 += r1\nr0 = *(u8 *)(r2 + 0)\nr0 = 0\nexit\n"
#: the flag set once with a value the other branch then uses as an index (on a later
#: iteration: the value was not precise when its iteration came back, so it is widened)
_LATE = ("r1 = *(u64 *)(r6 + 8)\nif r1 != 0 goto +6\nr1 = 1\n*(u64 *)(r6 + 8) = r1\nr1 = 5\n"
         "*(u64 *)(r6 + 0) = r1\nr0 = 0\nexit\nr3 = *(u64 *)(r6 + 0)\nr4 = r10\nr4 += -64\n"
         "r4 += r3\nr0 = *(u8 *)(r4 + 0)\nr0 = 0\nexit\n")


def _loop16(n: int, post: str, cb: str) -> str:
    return (_Z16 + f"r1 = {n}\nr2 = func cb\nr3 = r10\nr3 += -16\nr4 = 0\ncall 181\n" + post
            + "cb:\n" + cb)


_NESTED = (_Z16 + "r1 = 3\nr2 = func outer\nr3 = r10\nr3 += -16\nr4 = 0\ncall 181\n{post}"
           "outer:\nr3 = r2\nr1 = 3\nr2 = func inner\nr4 = 0\ncall 181\nr0 = 0\nexit\ninner:\n"
           + _INC)
_FIND_VMA = (_Z16 + "call 158\nr1 = r0\nr2 = 0\nr3 = func cb\nr4 = r10\nr4 += -16\nr5 = 0\n"
             "call 180\n{post}cb:\n" + _INC.replace("r2 +", "r3 +"))
_DRAIN = (_Z16 + "ld_pseudo r1, 1, 0\nr2 = func cb\nr3 = r10\nr3 += -16\nr4 = 0\ncall 209\n"
          "{post}cb:\n" + _INC)
_USER_RINGBUF = (31, 0, 0, 4096, 0)
PROBES += [
    CbProbe("widen_ctr_ok", "xdp", _loop16(10, "r0 = 0\nexit\n", _INC)),
    CbProbe("widen_ctr_index_after", "xdp", _loop16(10, _USE, _INC)),
    CbProbe("widen_ctr_index_after_ok", "xdp", _loop16(7, _USE, _INC)),
    CbProbe("widen_late_use", "xdp", _loop16(10, "r0 = 0\nexit\n", "r6 = r2\n" + _LATE)),
    # the same after a path that ends at the call site first (pruned there by the state
    # still being explored: the kernel takes over only that state's precise marks)
    CbProbe("widen_late_use_after_prune", "xdp", _loop16(
        10, "r0 = 0\nexit\n", "r6 = r2\ncall 7\nif r0 == 0 goto +2\nr0 = 0\nexit\n" + _LATE)),
    CbProbe("widen_nested_ok", "xdp", _NESTED.format(post="r0 = 0\nexit\n")),
    CbProbe("widen_nested_index_after", "xdp", _NESTED.format(post=_USE)),
    CbProbe("widen_find_vma_ok", "kprobe", _FIND_VMA.format(post="r0 = 0\nexit\n")),
    CbProbe("widen_find_vma_index_after", "kprobe", _FIND_VMA.format(post=_USE)),
    CbProbe("widen_drain_ok", "xdp", _DRAIN.format(post="r0 = 0\nexit\n"), [_USER_RINGBUF]),
    CbProbe("widen_drain_index_after", "xdp", _DRAIN.format(post=_USE), [_USER_RINGBUF]),
]


def check_c_program(tmp_path, capsys, source: str) -> dict[str, dict]:
    """Compile ``source`` with clang (BPF target, BTF) and run ``skv check --json
    --kernel=both-edges`` on the object: its rows by program name."""
    import json
    import subprocess

    from conftest import CLANG
    from model.cli import main

    src, obj = tmp_path / "p.c", tmp_path / "p.o"
    src.write_text(source)
    r = subprocess.run([CLANG, "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-I",
                        "/usr/include/x86_64-linux-gnu", "-c", str(src), "-o", str(obj)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    main(["check", "--json", "--kernel=both-edges", str(obj)])
    return {row["program"]: row for row in json.loads(capsys.readouterr().out)["programs"]}


def assert_kernel_verdict(name: str, obj: BpfObject, prog: Program, k):
    """The verifier's verdict on ``prog`` is the kernel's LoadResult ``k``, with the same
    message (skv's last line) when both refuse; a name ending in ``_ok`` is one the kernel loads. Returns
    the verifier's verdict."""
    from model.kernel.oracle import rejection_reason
    from model.verifier.checker import check_program

    v = check_program(obj, prog)
    kmsg = "accept" if k.ok else rejection_reason(k.log)
    where = f"{name}\nkernel: {kmsg}\nours: {v.error.message if v.error else 'accept'}"
    assert k.ok == name.endswith("_ok"), where
    assert v.accepted == k.ok, where
    if not k.ok:
        assert v.error.message.splitlines()[-1] == kmsg, where
    return v
