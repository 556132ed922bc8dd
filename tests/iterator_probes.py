"""Probe programs for BPF iterators (section ``iter/TARGET``; tests/test_iterators.py):
assembler text with struct offsets from the running kernel's BTF, optional maps (``ldmap``
names ``m0``, ``m1``... as in tests/callback_probes.py), the kernel's verdict (loaded through
model.kernel.objload with the target's attach_btf_id) and skv's."""

from __future__ import annotations

from dataclasses import dataclass, field

from model.isa import LoadImm64
from model.isa.asm import assemble
from model.program import BpfObject, MapDef, MapRef, Program
from tracing_probes import member_off

HASH = (1, 8, 16, 4, 0)  # type, key_size, value_size, max_entries, flags


@dataclass
class IterProbe:
    name: str
    section: str
    text: str
    ok: bool                 # the verdict the kernel's sources give
    frag: str | None = None  # a piece of skv's message (a rejection)
    maps: list = field(default_factory=list)
    license: str = "GPL"

    def model(self) -> tuple[BpfObject, Program]:
        prog = Program(self.name.replace(" ", "_"), self.section, assemble(self.text))
        for pc, i in prog.iter_pcs():
            if isinstance(i, LoadImm64) and i.src in (1, 2):
                prog.map_refs[pc] = MapRef(pc, f"m{i.imm}")
        maps = {f"m{k}": MapDef(f"m{k}", t, ks, vs, n, fl)
                for k, (t, ks, vs, n, fl) in enumerate(self.maps)}
        return BpfObject(self.name, self.license, maps, [prog]), prog


def kernel_load(obj: BpfObject, prog: Program):
    """The kernel's LoadResult for the probe (fd closed)."""
    from model.kernel.objload import load_program

    res = load_program(obj, prog)
    res.close()
    return res


def _sockopt(check: str, hid: int) -> str:
    """bpf_setsockopt(ctx's socket, SOL_TCP, TCP_NODELAY, &one, 4) after ``check``."""
    return ("r1 = *(u64 *)(r1 + 8)\n" + check + "r2 = 6\nr3 = 1\n*(u32 *)(r10 - 4) = 1\n"
            f"r4 = r10\nr4 += -4\nr5 = 4\ncall {hid}\nr0 = 0\nexit")


def probes() -> list[IterProbe]:
    pid = member_off("task_struct", "pid")
    mm = member_off("task_struct", "mm")
    seq = member_off("bpf_iter_meta", "seq")
    sid = member_off("bpf_iter_meta", "session_id")
    f_flags = member_off("file", "f_flags")
    key_size = member_off("bpf_map", "key_size")
    T, E, F, M, P, C = ("iter/task", "iter/bpf_map_elem", "iter/task_file", "iter/bpf_map",
                        "iter/bpf_prog", "iter/cgroup")
    end = "r0 = 0\nexit"
    meta = f"r6 = *(u64 *)(r1 + 0)\nr1 = *(u64 *)(r6 + {seq})\n"
    stack8 = "*(u64 *)(r10 - 8) = 0\nr2 = r10\nr2 += -8\n"
    key, value = "r7 = *(u64 *)(r1 + 16)\n", "r7 = *(u64 *)(r1 + 24)\n"
    return [
        # the context: meta, then the target's arguments
        IterProbe("meta seq", T, f"r2 = *(u64 *)(r1 + 0)\nr0 = *(u64 *)(r2 + {seq})\n{end}",
                  True),
        IterProbe("meta session_id", T,
                  f"r2 = *(u64 *)(r1 + 0)\nr0 = *(u64 *)(r2 + {sid})\n{end}", True),
        IterProbe("meta write", T, f"r2 = *(u64 *)(r1 + 0)\n*(u64 *)(r2 + {sid}) = 0\n{end}",
                  False, "only read is supported"),
        IterProbe("task pid checked", T,
                  f"r2 = *(u64 *)(r1 + 8)\nif r2 == 0 goto +1\nr0 = *(u32 *)(r2 + {pid})\n"
                  f"{end}", True),
        IterProbe("task pid unchecked", T,
                  f"r2 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r2 + {pid})\n{end}", False,
                  "R2 invalid mem access 'trusted_ptr_or_null_'"),
        IterProbe("task mm walk", T,
                  f"r2 = *(u64 *)(r1 + 8)\nif r2 == 0 goto +2\nr2 = *(u64 *)(r2 + {mm})\n"
                  f"r0 = *(u64 *)(r2 + 0)\n{end}", False, "access beyond struct (anon)"),
        IterProbe("task narrow ctx read", T, f"r2 = *(u32 *)(r1 + 8)\n{end}", False,
                  "invalid bpf_context access off=8 size=4"),
        IterProbe("task ctx write", T, f"*(u64 *)(r1 + 8) = 0\n{end}", False,
                  "invalid bpf_context access off=8 size=8"),
        IterProbe("task past the arguments", T, f"r0 = *(u64 *)(r1 + 16)\n{end}", False,
                  "invalid bpf_context access off=16 size=8"),
        IterProbe("task_file file", F,
                  f"r2 = *(u64 *)(r1 + 24)\nif r2 == 0 goto +1\nr0 = *(u32 *)(r2 + {f_flags})"
                  f"\n{end}", True),
        IterProbe("task_file plain task", F,
                  f"r2 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r2 + {pid})\n{end}", False,
                  "R2 invalid mem access 'ptr_or_null_'"),
        IterProbe("task_file fd", F, f"r0 = *(u32 *)(r1 + 16)\n{end}", True),
        IterProbe("bpf_map map", M,
                  f"r2 = *(u64 *)(r1 + 8)\nif r2 == 0 goto +1\nr0 = *(u32 *)(r2 + {key_size})"
                  f"\n{end}", True),
        IterProbe("bpf_prog unchecked", P, f"r2 = *(u64 *)(r1 + 8)\nr0 = *(u8 *)(r2 + 0)\n{end}",
                  False, "R2 invalid mem access 'ptr_or_null_'"),
        IterProbe("cgroup unchecked", C, f"r2 = *(u64 *)(r1 + 8)\nr0 = *(u8 *)(r2 + 0)\n{end}",
                  False, "R2 invalid mem access 'trusted_ptr_or_null_'"),
        IterProbe("elem map not null", E,
                  f"r2 = *(u64 *)(r1 + 8)\nr0 = *(u32 *)(r2 + {key_size})\n{end}", True),
        # bpf_map_elem: key (rdonly buf) and value (rdwr buf), sizes checked at attach
        IterProbe("key unchecked", E, f"{key}r0 = *(u32 *)(r7 + 0)\n{end}", False,
                  "R7 invalid mem access 'rdonly_buf_or_null'"),
        IterProbe("key checked far", E,
                  f"{key}if r7 == 0 goto +1\nr0 = *(u64 *)(r7 + 4096)\n{end}", True),
        IterProbe("key write", E, f"{key}if r7 == 0 goto +1\n*(u32 *)(r7 + 0) = 1\n{end}",
                  False, "R7 cannot write into rdonly_buf"),
        IterProbe("value write", E,
                  f"{value}if r7 == 0 goto +1\n*(u64 *)(r7 + 8) = 1\n{end}", True),
        IterProbe("value negative", E,
                  f"{value}if r7 == 0 goto +1\nr0 = *(u32 *)(r7 - 4)\n{end}", False,
                  "R7 invalid rdwr buffer access: off=-4, size=4"),
        IterProbe("key negative fixed off", E,
                  f"{key}if r7 == 0 goto +2\nr7 += -8\nr0 = *(u8 *)(r7 + 4)\n{end}", False,
                  "R7 invalid rdonly buffer access: off=-4, size=1"),
        IterProbe("value moved back", E,
                  f"{value}if r7 == 0 goto +2\nr7 += 8\nr0 = *(u8 *)(r7 - 8)\n{end}", True),
        IterProbe("value variable offset", E,
                  f"{value}if r7 == 0 goto +4\ncall 7\nr0 &= 7\nr7 += r0\n"
                  f"r0 = *(u8 *)(r7 + 0)\n{end}", False,
                  "R7 invalid variable buffer offset: off=0, var_off=(0x0; 0x7)"),
        IterProbe("value arithmetic unchecked", E, f"{value}r7 += 8\n{end}", False,
                  "R7 pointer arithmetic on buf_or_null prohibited, null-check it first"),
        IterProbe("value spilled and filled", E,
                  f"{value}*(u64 *)(r10 - 8) = r7\nr7 = *(u64 *)(r10 - 8)\nif r7 == 0 goto +1\n"
                  f"r0 = *(u64 *)(r7 + 0)\n{end}", True),
        IterProbe("meta seq narrow", T, f"r2 = *(u64 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 0)\n{end}",
                  False, "cannot access ptr member seq with moff 0 in struct (anon) with off 0 "
                  "size 1"),
        IterProbe("bpf_prog member end", P,
                  f"r2 = *(u64 *)(r1 + 8)\nif r2 == 0 goto +1\nr0 = *(u32 *)(r2 + 0)\n{end}",
                  False, "access beyond the end of member pages"),
        IterProbe("task pid non-GPL", T,
                  f"r2 = *(u64 *)(r1 + 8)\nif r2 == 0 goto +1\nr0 = *(u32 *)(r2 + {pid})\n"
                  f"{end}", False, "Cannot access kernel 'struct task_struct' from non-GPL",
                  license="MIT"),
        IterProbe("value non-GPL", E, f"{value}if r7 == 0 goto +1\nr0 = *(u8 *)(r7 + 0)\n{end}",
                  True, license="MIT"),
        IterProbe("value sign-extending load", E,
                  f"{value}if r7 == 0 goto +1\nr0 = *(s32 *)(r7 + 4)\n{end}", True),
        IterProbe("key sign-extending load", E,
                  f"{key}if r7 == 0 goto +1\nr0 = *(s8 *)(r7 + 4)\n{end}", True),
        IterProbe("tcp uid sign-extending ctx load", "iter/tcp",
                  f"r0 = *(s32 *)(r1 + 16)\n{end}", True),
        IterProbe("value's word is no pointer", E,
                  f"{value}if r7 == 0 goto +2\nr0 = *(u64 *)(r7 + 0)\nr0 = *(u64 *)(r0 + 0)\n"
                  f"{end}", False, "R0 invalid mem access 'scalar'"),
        IterProbe("return the value pointer", E, "r0 = *(u64 *)(r1 + 24)\nexit", False,
                  "At program exit the register R0 is not a known value (buf_or_null)"),
        # pointer arithmetic and tests on the buffers
        IterProbe("value atomic add", E,
                  f"{value}if r7 == 0 goto +2\nr1 = 1\nlock *(u64 *)(r7 + 0) += r1\n{end}", True),
        IterProbe("key atomic add", E,
                  f"{key}if r7 == 0 goto +2\nr1 = 1\nlock *(u64 *)(r7 + 0) += r1\n{end}", False,
                  "R7 cannot write into rdonly_buf"),
        IterProbe("value stores a pointer", E,
                  f"{value}if r7 == 0 goto +1\n*(u64 *)(r7 + 0) = r10\n{end}", True),
        IterProbe("value far store", E,
                  f"{value}if r7 == 0 goto +1\n*(u64 *)(r7 + 32000) = 1\n{end}", True),
        IterProbe("value huge offset", E,
                  f"{value}if r7 == 0 goto +2\nr7 += 536870912\nr0 = *(u8 *)(r7 + 0)\n{end}",
                  False, "math between buf pointer and 536870912 is not allowed"),
        IterProbe("value minus key", E,
                  f"{value}r8 = *(u64 *)(r1 + 16)\nif r7 == 0 goto +3\nif r8 == 0 goto +2\n"
                  f"r7 -= r8\nr0 = r7\n{end}", True),
        IterProbe("value equal to key", E,
                  f"{value}r8 = *(u64 *)(r1 + 16)\nif r7 != r8 goto +1\nr0 = *(u8 *)(r7 + 0)\n"
                  f"{end}", False, "R7 invalid mem access 'buf_or_null'"),
        IterProbe("value 32-bit null test", E,
                  f"{value}if w7 == 0 goto +1\nr0 = *(u8 *)(r7 + 0)\n{end}", False,
                  "R7 invalid mem access 'buf_or_null'"),
        IterProbe("value read when NULL", E,
                  f"{value}if r7 != 0 goto +1\nr0 = *(u8 *)(r7 + 0)\n{end}", False,
                  "R7 invalid mem access 'scalar'"),
        IterProbe("value variable there and back", E,
                  f"{value}if r7 == 0 goto +5\ncall 7\nr0 &= 7\nr7 += r0\nr7 -= r0\n"
                  f"r0 = *(u8 *)(r7 + 0)\n{end}", False, "R7 invalid variable buffer offset"),
        # helpers: seq_* (iterators only), map helpers with the element's key / value
        IterProbe("seq_write", T, f"{meta}{stack8}r3 = 8\ncall 127\n{end}", True),
        IterProbe("seq_write past the stack", T, f"{meta}{stack8}r3 = 16\ncall 127\n{end}",
                  False, "invalid read from stack R2 off=-8 size=16"),
        IterProbe("seq_write meta", T,
                  f"r1 = *(u64 *)(r1 + 0)\n{stack8}r3 = 8\ncall 127\n{end}", False,
                  "R1 is of type bpf_iter_meta but seq_file is expected"),
        IterProbe("seq_write ctx", T, f"{stack8}r3 = 8\ncall 127\n{end}", False,
                  "R1 type=ctx expected=ptr_, trusted_ptr_, rcu_ptr_"),
        IterProbe("seq_printf", T, f"{meta}{stack8}r3 = 8\nr4 = r2\nr5 = 8\ncall 126\n{end}",
                  True),
        IterProbe("seq_printf no data", T, f"{meta}{stack8}r3 = 8\nr4 = 0\nr5 = 0\ncall 126\n"
                  f"{end}", True),
        IterProbe("seq_printf NULL data with size", T,
                  f"{meta}{stack8}r3 = 8\nr4 = 0\nr5 = 8\ncall 126\n{end}", False,
                  "R4 type=scalar expected=fp"),
        IterProbe("seq_printf zero fmt size", T,
                  f"{meta}{stack8}r3 = 0\nr4 = 0\nr5 = 0\ncall 126\n{end}", False,
                  "R3 invalid zero-sized read"),
        IterProbe("seq_write non-GPL", T, f"r1 = 0\n{stack8}r3 = 8\ncall 127\n{end}", False,
                  "cannot call GPL-restricted function from non-GPL compatible program",
                  license="MIT"),
        IterProbe("seq_write task_file's seq", F, f"{meta}{stack8}r3 = 8\ncall 127\n{end}", True),
        IterProbe("get_task_stack", T,
                  f"r1 = *(u64 *)(r1 + 8)\nif r1 == 0 goto +6\n{stack8}r3 = 8\nr4 = 0\ncall 141\n"
                  f"{end}", True),
        IterProbe("get_task_stack unchecked", T,
                  f"r1 = *(u64 *)(r1 + 8)\n{stack8}r3 = 8\nr4 = 0\ncall 141\n{end}", False,
                  "R1 type=trusted_ptr_or_null_ expected=ptr_, trusted_ptr_, rcu_ptr_"),
        IterProbe("get_task_stack meta", T,
                  f"r1 = *(u64 *)(r1 + 0)\n{stack8}r3 = 8\nr4 = 0\ncall 141\n{end}", False,
                  "R1 is of type bpf_iter_meta but task_struct is expected"),
        IterProbe("seq_printf_btf", T, f"{meta}{stack8}r3 = 8\nr4 = 0\ncall 150\n{end}", True),
        IterProbe("seq_write value", E,
                  f"{value}if r7 == 0 goto +6\n{meta}r2 = r7\nr2 += 4\nr3 = 100\ncall 127\n"
                  f"{end}", True),
        IterProbe("seq_write key unchecked", E,
                  f"{key}{meta}r2 = r7\nr3 = 100\ncall 127\n{end}", False,
                  "R2 type=rdonly_buf_or_null expected="),
        IterProbe("key to a writing helper", E,
                  f"{key}if r7 == 0 goto +4\nr1 = r7\nr2 = 8\nr3 = 0\ncall 113\n{end}", False,
                  "R1 type=rdonly_buf expected="),
        IterProbe("value to a writing helper", E,
                  f"{value}if r7 == 0 goto +4\nr1 = r7\nr2 = 8\nr3 = 0\ncall 113\n{end}", True),
        IterProbe("map_delete_elem key", E,
                  f"{key}if r7 == 0 goto +4\nld_pseudo r1, 1, 0\nr2 = r7\ncall 3\n{end}", False,
                  "R2 type=rdonly_buf expected=", maps=[HASH]),
        IterProbe("map_delete_elem value as key", E,
                  f"{value}if r7 == 0 goto +4\nld_pseudo r1, 1, 0\nr2 = r7\ncall 3\n{end}",
                  True, maps=[HASH]),
        IterProbe("map_delete_elem key copied", E,
                  f"{key}if r7 == 0 goto +7\nr2 = *(u64 *)(r7 + 0)\n*(u64 *)(r10 - 8) = r2\n"
                  f"ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\ncall 3\n{end}", True, maps=[HASH]),
        IterProbe("map_update_elem key value", E,
                  f"{key}r8 = *(u64 *)(r1 + 24)\nif r7 == 0 goto +7\nif r8 == 0 goto +6\n"
                  f"ld_pseudo r1, 1, 0\nr2 = r7\nr3 = r8\nr4 = 0\ncall 2\n{end}", False,
                  "R2 type=rdonly_buf expected=", maps=[HASH]),
        IterProbe("map_update_elem value as key and value", E,
                  f"{value}if r7 == 0 goto +6\nld_pseudo r1, 1, 0\nr2 = r7\nr3 = r7\nr4 = 0\n"
                  f"call 2\n{end}", True, maps=[HASH]),
        IterProbe("seq_write in tp_btf", "tp_btf/sched_switch",
                  f"r1 = 0\n{stack8}r3 = 8\ncall 127\n{end}", False,
                  "program of this type cannot use helper bpf_seq_write#127"),
        IterProbe("get_func_ip", T, f"call 173\n{end}", False,
                  "supported only for fentry/fexit/fmod_ret programs"),
        IterProbe("get_attach_cookie", T, f"call 174\n{end}", False,
                  "program of this type cannot use helper bpf_get_attach_cookie#174"),
        # the target's own helpers: bpf_setsockopt / bpf_getsockopt in tcp and unix iterators
        IterProbe("tcp setsockopt", "iter/tcp", _sockopt("if r1 == 0 goto +7\n", 49), True),
        IterProbe("tcp getsockopt", "iter/tcp",
                  "r1 = *(u64 *)(r1 + 8)\nif r1 == 0 goto +6\nr2 = 6\nr3 = 1\nr4 = r10\n"
                  f"r4 += -4\nr5 = 4\ncall 57\n{end}", True),
        IterProbe("tcp setsockopt unchecked", "iter/tcp", _sockopt("", 49), False,
                  "R1 type=trusted_ptr_or_null_ expected="),
        IterProbe("tcp setsockopt ctx", "iter/tcp",
                  f"r2 = 6\nr3 = 1\n{stack8}r4 = r2\nr5 = 4\ncall 49\n{end}", False,
                  "R1 type=ctx expected="),
        IterProbe("tcp setsockopt uninit value (root)", "iter/tcp",
                  "r1 = *(u64 *)(r1 + 8)\nif r1 == 0 goto +6\nr2 = 6\nr3 = 1\nr4 = r10\n"
                  f"r4 += -4\nr5 = 4\ncall 49\n{end}", True),
        IterProbe("tcp setsockopt past the stack", "iter/tcp",
                  _sockopt("if r1 == 0 goto +7\n", 49).replace("r5 = 4", "r5 = 8"), False,
                  "invalid read from stack R4 off=-4 size=8"),
        IterProbe("tcp setsockopt zero size", "iter/tcp",
                  _sockopt("if r1 == 0 goto +7\n", 49).replace("r5 = 4", "r5 = 0"), False,
                  "R5 invalid zero-sized read"),
        IterProbe("unix setsockopt", "iter/unix", _sockopt("if r1 == 0 goto +7\n", 49), True),
        IterProbe("unix getsockopt", "iter/unix", _sockopt("if r1 == 0 goto +7\n", 57), True),
        IterProbe("udp setsockopt", "iter/udp", _sockopt("if r1 == 0 goto +7\n", 49), False,
                  "program of this type cannot use helper bpf_setsockopt#49"),
        IterProbe("task setsockopt", T, _sockopt("if r1 == 0 goto +7\n", 49), False,
                  "program of this type cannot use helper bpf_setsockopt#49"),
        # return values: [0, 1]
        IterProbe("return 1", T, "r0 = 1\nexit", True),
        IterProbe("return 2", T, "r0 = 2\nexit", False,
                  "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]"),
        IterProbe("return unknown", E, "call 7\nexit", False, "should have been in [0, 1]"),
        IterProbe("return masked", E, "call 7\nr0 &= 1\nexit", True),
        IterProbe("return ctx", T, "r0 = r1\nexit", False,
                  "At program exit the register R0 is not a known value (ctx)"),
    ]
