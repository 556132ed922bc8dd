"""The interpreter against bpfprogs/manifest.json: every run and sequence reproduced, the
unsafe programs fault exactly where and when the manifest says, plus the limits (budget,
call depth, read-only memory, uninitialised registers)."""

from __future__ import annotations

import itertools
from functools import lru_cache

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from conftest import BPFPROGS
from manifest import manifest, program_id, programs, unsafe
from model.elf.loader import load_object
from model.interp.helpers import CONFORMANCE_HELPERS
from model.interp.machine import MAX_CALL_FRAMES, Machine
from model.isa import LoadImm64, assemble, format_llvm
from model.keystate import PerExecution, PerSite, Uniform
from model.program import MapRef, Program

SKB_MARK = 8  # offsetof(struct __sk_buff, mark)


@lru_cache(maxsize=None)
def obj(name: str):
    return load_object(str(BPFPROGS / name))


@lru_cache(maxsize=None)
def data_symbols(name: str) -> dict[str, tuple[str, int, int]]:
    """Global variable -> (section, offset, size), from the ELF symbol table."""
    out = {}
    with open(BPFPROGS / name, "rb") as f:
        elf = ELFFile(f)
        symtab = next(s for s in elf.iter_sections() if isinstance(s, SymbolTableSection))
        for sym in symtab.iter_symbols():
            if sym["st_info"]["type"] != "STT_OBJECT" or not isinstance(sym["st_shndx"], int):
                continue
            sec = elf.get_section(sym["st_shndx"]).name
            if sec in (".bss", ".data"):
                out[sym.name] = (sec, sym["st_value"], sym["st_size"])
    return out


def global_value(m: Machine, obj_name: str, var: str) -> int:
    sec, off, size = data_symbols(obj_name)[var]
    return int.from_bytes(m.mem.load_bytes(m.maps[sec].value_address(off), size), "little")


def program(p: dict) -> Program:
    return obj(p["object"]).program(p["program"])


def machine(p: dict, ks, **kw) -> Machine:
    return Machine(program(p), obj(p["object"]).maps, keys=ks, **kw)


def packet(ctx: dict | None) -> bytes | None:
    return bytes.fromhex(ctx["packet"]) if ctx else None


def keys_of(assignment: dict[str, int]) -> Uniform:
    return Uniform({k: bool(v) for k, v in assignment.items()})


RUNS = [(p, n, r) for p in programs() for n, r in enumerate(p["runs"])]


@pytest.mark.parametrize("p, n, run", RUNS, ids=[f"{program_id(p)}#{n}" for p, n, _ in RUNS])
def test_manifest_run(p, n, run):
    m = machine(p, keys_of(run["keys"]))
    res = m.run(None, packet(run["ctx"]))
    assert res.ok, res.fault
    assert res.r0 & 0xFFFFFFFF == run["r0"]
    assert res.trace == run["trace"]
    for var, want in run.get("globals", {}).items():
        assert global_value(m, p["object"], var) == want, var
    for fld, want in run.get("ctx_out", {}).items():
        assert fld == "mark"
        data = m.context.region.data
        assert int.from_bytes(data[SKB_MARK:SKB_MARK + 4], "little") == want
    # the sites visited agree with the key state and their polarity
    for v in res.sites:
        site = program(p).site_at(v.pc)
        assert v.on == bool(run["keys"][site.key]) and v.jumped == (v.on != site.inverse)


def test_every_run_is_covered():
    assert len(RUNS) == 69 and len(manifest()["sequences"]) == 4


@pytest.mark.parametrize("seq", manifest()["sequences"], ids=lambda s: s["name"])
def test_manifest_sequence(seq):
    o = obj(seq["object"])
    ks = keys_of(seq["keys"])
    first = None
    for step in seq["steps"]:
        m = Machine(o.program(step["program"]), o.maps, keys=ks, shared=first)
        first = first or m
        res = m.run(None, packet(seq["ctx"]))
        assert res.ok and res.r0 & 0xFFFFFFFF == step["r0"], (step, res.fault)
    for var, want in seq["globals_after"].items():
        assert global_value(first, seq["object"], var) == want


# --- unsafe programs ----------------------------------------------------------------------

# where each unsafe program faults (read by hand from `skv disasm`, see bpfprogs/README.md)
FAULTS = {
    "oob_on": (12, "w6 = *(u32 *)(r0 + 0x40)", "read of 4 bytes"),
    "uninit_on": (3, "r0 = r6", "R6 !read_ok"),
    "null_off": (9, "r6 = *(u64 *)(r0 + 0x0)", "at 0x0: no region"),
    "per_site": (16, "r1 = *(u64 *)(r0 + 0x0)", "at 0x0: no region"),
    "per_exec": (22, "r6 = *(u64 *)(r0 + 0x0)", "at 0x0: no region"),
}
UNSAFE = [p for p in programs() if p["program"] in FAULTS]


def assert_fault(p: dict, res) -> None:
    pc, text, reason = FAULTS[p["program"]]
    assert res.status == "fault", res
    assert res.fault.pc == pc and reason in res.fault.reason, res.fault
    assert format_llvm(program(p).by_pc()[pc]) == text


def test_unsafe_programs_are_the_manifest_ones():
    assert {p["program"] for p in programs() if not (p["expect"]["M0"]["safe"]
            and p["expect"]["M1"]["safe"] and p["expect"]["M2"]["safe"])} == set(FAULTS)


def _assignments(names):
    for bits in itertools.product((0, 1), repeat=len(names)):
        yield dict(zip(names, bits))


def _inputs(p):
    return list({r["ctx"]["packet"] if r["ctx"] else None: None for r in p["runs"]}) or [None]


@pytest.mark.parametrize("p", programs(), ids=program_id)
def test_m0_faults_exactly_when_unsafe(p):
    cubes = p["expect"]["M0"]["unsafe_when"]
    for a in _assignments(p["keys"]):
        for pkt in _inputs(p):
            res = machine(p, keys_of(a)).run(None, bytes.fromhex(pkt) if pkt else None)
            if unsafe(cubes, a):
                assert_fault(p, res)
            else:
                assert res.ok, (a, res.fault)


@pytest.mark.parametrize("p", programs(), ids=program_id)
def test_m1_faults_exactly_when_unsafe(p):
    """Every per-site assignment: the manifest's cubes (over ``pc<N>``) fault, others not."""
    prog = program(p)
    cubes = p["expect"]["M1"]["unsafe_when"]
    names = [f"pc{s.pc}" for s in prog.sites]
    for a in _assignments(names):
        ks = PerSite({s.id: bool(a[f"pc{s.pc}"]) for s in prog.sites})
        for pkt in _inputs(p):
            res = machine(p, ks).run(None, bytes.fromhex(pkt) if pkt else None)
            if unsafe(cubes, a):
                assert_fault(p, res)
            else:
                assert res.ok, (a, res.fault)


def test_per_site_faults_under_the_m1_cube_only():
    p = next(p for p in programs() if p["program"] == "per_site")
    (cube,) = p["expect"]["M1"]["unsafe_when"]
    prog = program(p)
    ks = PerSite({prog.site_at(int(k[2:])).id: bool(v) for k, v in cube.items()})
    assert_fault(p, machine(p, ks).run())
    assert p["expect"]["M0"]["safe"]  # equal states (M0) are fine
    for on in (False, True):
        assert machine(p, Uniform({"split_key": on})).run().ok


def test_per_exec_faults_under_the_m2_witness_only():
    p = next(p for p in programs() if p["program"] == "per_exec")
    witness = p["expect"]["M2"]["witness"]
    prog = program(p)
    schedule: dict[int, list[bool]] = {}
    for step in witness:
        for k, v in step.items():
            schedule.setdefault(prog.site_at(int(k[2:])).id, []).append(bool(v))
    res = machine(p, PerExecution(schedule)).run()
    assert_fault(p, res)
    assert [(v.n, v.on) for v in res.sites] == [(0, False), (1, True)]
    for on in (False, True):  # no M1 (fixed per site) state faults
        res = machine(p, PerSite({s.id: on for s in prog.sites})).run()
        assert res.ok and len(res.sites) == 2


# --- limits -----------------------------------------------------------------------------------

def asm_program(text: str, **kw) -> Program:
    return Program("t", "socket", assemble(text), **kw)


def test_budget_exhaustion_on_an_infinite_loop():
    m = Machine(asm_program("r0 = 0\nL: r0 += 1\ngoto L\nexit"), budget=10_000)
    res = m.run()
    assert res.status == "budget" and res.steps == 10_000 and res.fault is None
    assert res.r0 is None and not res.ok


def test_call_depth_over_8_faults():
    res = Machine(asm_program("r0 = 0\nf: call f\nexit")).run()
    assert res.status == "fault" and res.fault.pc == 1
    assert f"call depth over {MAX_CALL_FRAMES} frames" in res.fault.reason
    assert res.steps == 1 + MAX_CALL_FRAMES  # 7 nested calls succeed, the 8th faults
    # 7 levels of calls (8 frames) are fine
    src = "r0 = 0\n" + "".join(f"call f{i}\nexit\nf{i}:\n" for i in range(7)) + "r0 = 7\nexit"
    res = Machine(asm_program(src)).run()
    assert res.ok and res.r0 == 7


def test_write_to_rodata_faults():
    o = obj("talk_unlikely.o")
    assert ".rodata" in o.maps
    insns = [LoadImm64(1, 2, 0, 0)] + assemble("*(u8 *)(r1 + 0x0) = 0x1\nr0 = 0\nexit")
    prog = Program("w", "socket", insns, map_refs={0: MapRef(0, ".rodata", 0)})
    res = Machine(prog, o.maps).run()
    assert res.status == "fault" and res.fault.pc == 2
    assert "write to read-only" in res.fault.reason and res.fault.region == ".rodata[0]"
    # reading it is fine
    prog = Program("r", "socket", [insns[0]] + assemble("r0 = *(u8 *)(r1 + 0x0)\nexit"),
                   map_refs={0: MapRef(0, ".rodata", 0)})
    res = Machine(prog, o.maps).run()
    assert res.ok and res.r0 == o.maps[".rodata"].initial[0]


def test_uninitialised_register_read_names_the_register():
    res = Machine(asm_program("r0 = r3\nexit")).run()
    assert res.status == "fault" and res.fault.pc == 0 and "R3" in res.fault.reason
    res = Machine(asm_program("r2 = 1\nexit")).run()  # r0 unset at exit
    assert res.status == "fault" and res.fault.pc == 1 and "R0" in res.fault.reason
    # unwritten stack: allowed by default (the kernel's rule for root), reported on request
    res = Machine(asm_program("r0 = *(u64 *)(r10 - 0x8)\nexit")).run()
    assert res.ok and res.r0 == 0
    res = Machine(asm_program("r0 = *(u64 *)(r10 - 0x8)\nexit"), uninit_stack="fault").run()
    assert res.status == "fault" and "uninitialised stack" in res.fault.reason
    # non-strict (the conformance convention): registers and stack start at zero
    res = Machine(asm_program("r0 = r3\nexit"), strict=False).run(regs={})
    assert res.ok and res.r0 == 0


def test_helper_args_clobbered_after_a_call():
    res = Machine(asm_program("r1 = 1\ncall 0x5\nr0 = r1\nexit"),
                  helpers=CONFORMANCE_HELPERS).run()
    assert res.status == "fault" and "R1" in res.fault.reason


def test_memory_budget_is_a_clean_error():
    """No program makes the interpreter allocate without bound: regions beyond the budget
    raise a one-line SkvError, and removed regions give their bytes back."""
    from model.errors import SkvError
    from model.interp.memory import MEMORY_BUDGET, Memory, MemoryBudgetExceeded, Region

    assert MEMORY_BUDGET <= 1 << 30
    mem = Memory(budget=3 << 20)
    regions = [mem.add(Region(f"v{i}", "map_value", i << 24, bytearray(1 << 20)))
               for i in range(3)]
    with pytest.raises(MemoryBudgetExceeded, match="memory budget of 3 MiB exhausted") as e:
        mem.add(Region("v3", "map_value", 3 << 24, bytearray(1 << 20)))
    assert isinstance(e.value, SkvError)
    mem.remove(regions[0])
    mem.add(Region("v3", "map_value", 3 << 24, bytearray(1 << 20)))
    assert mem.used == 3 << 20
