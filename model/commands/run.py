"""``skv run``: run one program on the interpreter under a key state, and show what it did.

Key states (``model.keystate``):

- M0 ``--keys debug=1,trace=0``: one value per key; every key the program uses must be given
  (unless every site of that key is named by ``--sites``/``--schedule``).
- M1 ``--sites 3=1,5=0``: one fixed state per site id (``skv info`` lists the ids); sites
  not named take their key's value from ``--keys``.
- M2 ``--schedule 3=0110``: the state of each execution of a site, one digit per
  execution; after the digits run out a site takes its key's ``--keys`` value if given,
  else keeps its last digit. Sites not named take their key's value from ``--keys``.

Output: the key state, each static-site visit (site id, pc, key, execution number, on/off,
jumped or fell through), each ``bpf_trace_printk`` line, the path as pc ranges
(``--path``), the fault (instruction, reason, address, region) if any, and r0 in hex and
decimal. Exit status 0 on a clean exit, 1 on a fault or an exhausted budget, 2 on bad input.

Counterexample files (``--replay FILE``): a JSON object

    {"object": "bpfprogs/unsafe_m1.o",   # relative paths are relative to FILE's directory
     "program": "per_site",
     "model": "M0" | "M1" | "M2",
     "keys": {"split_key": 1},           # M0 values; for M1/M2 the value of unnamed sites
     "sites": {"3": 0, "13": 1},         # M1: site -> 0/1
     "schedule": {"6": "01"},            # M2: site -> one digit per execution (or [0, 1])
     "ctx": "00ff..." | null,            # context bytes (hex); null = zeros
     "packet": "ffff..." | null,         # packet bytes for xdp/tc/socket programs
     "maps": {"counts": {"00000000": "0500000000000000"}},  # optional initial contents:
                                         # map name -> key hex -> value hex
     "entries": {"counts": 4},           # optional: the size of an array the object
                                         # leaves at 0 for its loader (default 1)
     "seed": 0, "budget": 1000000}       # optional

A site is named by its id (``"3"`` or ``"#3"``) or by its pc (``"pc13"``, as the manifest
does). ``write_replay`` writes this format; ``load_replay`` reads it. With ``--replay`` the
object, program, key state, context and packet come from the file; ``--path``,
``--budget`` and ``--seed`` may still be given (the command line wins).
"""

from __future__ import annotations

import json

from model.commands.common import add_loader_args, load, select_programs
from model.errors import SkvError
from model.interp.machine import DEFAULT_BUDGET, Machine, RunResult
from model.interp.replay import init_maps, load_replay, loaded_maps, make_keystate, resolve_site
from model.isa import format_llvm
from model.keystate import KeyState, PerExecution, PerSite, Uniform, parse_keys, parse_sites
from model.program import Program


def add_arguments(p) -> None:
    p.add_argument("object", nargs="?", metavar="OBJ", help="BPF ELF object file")
    p.add_argument("--program", "-p", metavar="NAME",
                   help="the program to run (needed when the object has several)")
    p.add_argument("--keys", metavar="K=0|1,...", default="", help="M0: a value per key")
    p.add_argument("--sites", metavar="ID=0|1,...", help="M1: a fixed state per site id")
    p.add_argument("--schedule", metavar="ID=0110,...",
                   help="M2: the state of each execution of a site")
    p.add_argument("--ctx", metavar="HEX", help="context bytes (default zeros)")
    p.add_argument("--packet", metavar="HEX", help="packet bytes (xdp, tc, socket programs)")
    p.add_argument("--seed", type=int, metavar="N", help="seed of bpf_get_prandom_u32")
    p.add_argument("--budget", type=int, metavar="N",
                   help=f"instruction budget (default {DEFAULT_BUDGET})")
    p.add_argument("--path", action="store_true", help="print the path taken, as pc ranges")
    p.add_argument("--replay", metavar="FILE", help="run a JSON counterexample (see --help)")
    add_loader_args(p)


# -- key states ----------------------------------------------------------------------------

def _sites_arg(text: str, prog: Program, m1: bool) -> dict[int, list[bool]]:
    out = parse_sites(text, prog)
    if m1:
        bad = [f"{k}={''.join(str(int(x)) for x in v)}" for k, v in out.items() if len(v) != 1]
        if bad:
            raise SkvError(f"bad site setting {bad[0]}: --sites takes one state per site "
                           "(use --schedule for one per execution)")
    return out


# -- running and printing ------------------------------------------------------------------

def _ranges(path: list[int], prog: Program) -> str:
    by_pc = prog.by_pc()
    out: list[list[int]] = []
    for pc in path:
        if out and pc == out[-1][1] + by_pc[out[-1][1]].slots:
            out[-1][1] = pc
        else:
            out.append([pc, pc])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out)


def _r0(v: int) -> str:
    v &= (1 << 64) - 1
    signed = f", signed {v - (1 << 64)}" if v >> 63 else ""
    return f"r0 = {v:#x} ({v}{signed})"


def report(res: RunResult, prog: Program, *, path: bool = False, budget: int = 0) -> list[str]:
    lines = []
    sites = {s.id: s for s in prog.sites}
    for v in res.sites:
        s = sites[v.site]
        dest = f"jumped to pc {s.target}" if v.jumped else f"fell through to pc {v.pc + 1}"
        lines.append(f"site #{v.site} pc {v.pc} key {s.key} execution {v.n}: "
                     f"{'on' if v.on else 'off'}, {dest}")
    for t in res.trace:
        lines.append(f"trace: {json.dumps(t)}")
    if path:
        cut = " (truncated)" if len(res.path) < res.steps else ""
        lines.append(f"path: {_ranges(res.path, prog)}{cut}")
    if res.status == "fault":
        f = res.fault
        insn = prog.by_pc().get(f.pc)
        text = format_llvm(insn, f.pc) if insn is not None else "no instruction"
        lines.append(f"fault at insn {f.pc}: {text}")
        lines.append(f"  reason: {f.reason}")
        if f.addr is not None:
            lines.append(f"  address: {f.addr:#x}")
            lines.append(f"  region: {f.region or 'none (outside every region)'}")
        elif f.region:
            lines.append(f"  region: {f.region}")
    elif res.status == "budget":
        lines.append(f"budget exhausted: {res.steps} instructions run (--budget {budget})")
    else:
        lines.append(_r0(res.r0))
    lines.append(f"status: {res.status} after {res.steps} instructions")
    return lines


def describe(ks: KeyState, keys: dict[str, bool]) -> str:
    text = f"keys {Uniform(keys).describe()}"
    if isinstance(ks, PerSite):
        return f"M1 sites {ks.describe()}" + (f", {text}" if keys else "")
    if isinstance(ks, PerExecution):
        return f"M2 schedule {ks.describe()}" + (f", {text}" if keys else "")
    return f"M0 {text}"


def _hex_arg(text: str | None, flag: str) -> bytes | None:
    if text is None:
        return None
    try:
        return bytes.fromhex(text.replace(":", ""))
    except ValueError:
        raise SkvError(f"{flag}: bad hex {text!r}") from None


def _program(obj, name: str | None) -> Program:
    progs = select_programs(obj, name)
    if len(progs) > 1:
        raise SkvError(f"{obj.path} has {len(progs)} programs: choose one with --program "
                       f"({', '.join(p.name for p in progs)})")
    return progs[0]



def run(args) -> int:
    if args.replay:
        given = [f for f, v in (("OBJ", args.object), ("--program", args.program),
                                ("--keys", args.keys), ("--sites", args.sites),
                                ("--schedule", args.schedule), ("--ctx", args.ctx),
                                ("--packet", args.packet)) if v]
        if given:
            raise SkvError(f"--replay takes the run from the file; drop {', '.join(given)}")
        r = load_replay(args.replay)
        obj = load(r.object)
        prog = _program(obj, r.program)
        keys = parse_keys(",".join(f"{k}={int(v)}" for k, v in r.keys.items()), prog.keys())
        sites = {resolve_site(prog, k).id: v for k, v in r.sites.items()}
        sched = {resolve_site(prog, k).id: v for k, v in r.schedule.items()}
        ks = make_keystate(prog, keys, sites if r.model == "M1" else None,
                           sched if r.model == "M2" else None)
        ctx, packet, maps, entries = r.ctx, r.packet, r.maps, r.entries
        seed = args.seed if args.seed is not None else (r.seed or 0)
        budget = args.budget if args.budget is not None else (r.budget or DEFAULT_BUDGET)
    else:
        if not args.object:
            raise SkvError("give an object file (or --replay FILE)")
        if args.sites and args.schedule:
            raise SkvError("--sites (M1) and --schedule (M2) exclude each other")
        ctx, packet = _hex_arg(args.ctx, "--ctx"), _hex_arg(args.packet, "--packet")
        obj = load(args.object, prog_type=args.prog_type, btf=args.btf)
        prog = _program(obj, args.program)
        keys = parse_keys(args.keys, prog.keys())
        sites = {k: v[0] for k, v in _sites_arg(args.sites, prog, True).items()} \
            if args.sites else None
        sched = _sites_arg(args.schedule, prog, False) if args.schedule else None
        ks = make_keystate(prog, keys, sites, sched)
        maps, entries, seed = {}, {}, args.seed or 0
        budget = args.budget if args.budget is not None else DEFAULT_BUDGET
    if budget < 1:
        raise SkvError("--budget must be at least 1")
    m = Machine(prog, loaded_maps(obj.maps, entries), keys=ks, budget=budget, seed=seed)
    init_maps(m, maps)
    res = m.run(ctx, packet, test_run_checks=True)
    print(f"program {prog.name} ({prog.prog_type}), {describe(ks, keys)}")
    for line in report(res, prog, path=args.path, budget=budget):
        print(line)
    return 0 if res.ok else 1
