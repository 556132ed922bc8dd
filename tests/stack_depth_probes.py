"""Probe programs for the combined stack-size check and private stacks
(``tests/test_stack_depth.py``; model.platform.priv_stack): static call chains whose
frames have chosen stack depths, per program type, with tail calls and bpf_timer
callbacks, in the callback probes' text syntax (tests/callback_probes.py). The kernel
decides every verdict; names ending in ``_ok`` are expected to load."""

from __future__ import annotations

from dataclasses import dataclass

from callback_probes import SECTION, CbProbe, load_with_func_info
from timer_probes import _INIT, _SET, _lookup, FieldProbe, HASH, TIMER, VALUE

from model.cfg.graph import func_starts
from model.kernel.funcinfo import func_btf, func_info_records

SECTION.setdefault("iter", "iter/task")

PROG_ARRAY = (3, 4, 4, 4, 0)
_TAIL = "ld_pseudo r2, 1, 0\nr3 = 0\ncall 12\n"


def _st(depth: int) -> str:
    return f"r2 = 1\n*(u64 *)(r10 - {depth}) = r2\n" if depth else ""


def chain_text(depths, tail_at: int | None = None, ctx: bool = True) -> str:
    """main (depth ``depths[0]``) calls f1 (``depths[1]``), which calls f2, ...; function
    ``tail_at`` also does a tail call (``ctx``: r1 kept in r6 along the chain; without,
    the functions take no argument, as a global ``int f(void)``)."""
    out = ""
    for k, d in enumerate(depths):
        out += (f"f{k}:\n" if k else "") + ("r6 = r1\n" if ctx else "") + _st(d)
        if k == tail_at:
            out += "r1 = r6\n" + _TAIL
        if k + 1 < len(depths):
            out += ("r1 = r6\n" if ctx else "") + f"call f{k + 1}\n"
        out += "r0 = 0\nexit\n"
    return out


#: (depths, fits on the one kernel stack): chains around 64 (the private-stack minimum)
#: and 512 bytes
CHAINS = [
    ((256, 256, 8), False),   # 528: main and f1 (>= 64) private
    ((48, 480), False),       # 48 stays in the chain (under 64), 480 private
    ((56, 464), False),       # 56 rounds to 64: private
    ((480, 48), False),
    ((496, 16), True),
    ((16, 496, 16), False),
    ((8, 8, 512), False),
    ((32,) * 8, True),        # 8 frames: the frame limit, 256 bytes
    ((48,) * 7, True),        # 336 bytes of sub-64 frames
]
PRIV_TYPES = ("kprobe", "tracepoint", "perf_event", "raw_tracepoint", "tp_btf")
PLAIN_TYPES = ("xdp", "socket_filter", "sched_cls", "iter")


@dataclass
class GlobalsProbe(CbProbe):
    """A probe whose functions number ``global_at`` (0: the main program) have global
    linkage: the object carries the BTF, the kernel gets it as func info."""

    global_at: tuple[int, ...] = ()

    def model(self):
        obj, prog = super().model()
        starts = sorted(func_starts(prog))
        glob = {f"f{starts[k]}" for k in self.global_at}
        obj.btf = func_btf([f"f{pc}" for pc in starts], glob)
        prog.btf_funcs = dict(zip(starts, (t for _, t in func_info_records(starts))))
        prog.global_funcs = {starts[k] for k in self.global_at}
        return obj, prog


def _name(ptype: str, depths, fits: bool, private: bool) -> str:
    return f"{ptype}_{'_'.join(map(str, depths))}" + ("_ok" if fits or private else "")


def _timer(name: str, ptype: str, cb: str) -> FieldProbe:
    """A program arming a bpf_timer whose callback is ``cb`` (labels cb, ...)."""
    return FieldProbe(name, ptype, _lookup() + _INIT + _SET + "out:\nr0 = 0\nexit\n" + cb,
                      [(HASH, 4, VALUE, 4, 0)], fields=[TIMER])


def probes() -> list[CbProbe]:
    out = [CbProbe(_name(t, d, fits, t in PRIV_TYPES), t, chain_text(d))
           for t in PRIV_TYPES + PLAIN_TYPES for d, fits in CHAINS]
    for t in ("kprobe", "tracepoint"):
        # a tail call anywhere: no private stacks at all
        out += [
            CbProbe(f"{t}_tail_main_48_480", t, chain_text((48, 480), 0), [PROG_ARRAY]),
            CbProbe(f"{t}_tail_sub_256_256_8", t, chain_text((256, 256, 8), 2), [PROG_ARRAY]),
            CbProbe(f"{t}_tail_sub_240_16_ok", t, chain_text((240, 16), 1), [PROG_ARRAY]),
            CbProbe(f"{t}_tail_sub_48_480", t, chain_text((48, 480), 1), [PROG_ARRAY]),
        ]
    # bpf_timer callbacks: their call trees keep the kernel stack
    sub480 = "sub:\n" + _st(480) + "r0 = 0\nexit\n"
    # (kprobe, tracepoint, perf_event, raw_tracepoint: "tracing progs cannot use bpf_timer")
    for t in ("tp_btf", "xdp"):
        ok = "_ok" if t == "tp_btf" else ""
        out += [
            _timer(f"{t}_timer_cb_64_sub_480", t, "cb:\n" + _st(64) + "call sub\nr0 = 0\n"
                   "exit\n" + sub480),
            _timer(f"{t}_timer_cb_16_sub_480_ok", t, "cb:\n" + _st(16) + "call sub\nr0 = 0\n"
                   "exit\n" + sub480),
            # sub reached from main (depth 48) and from the callback:
            # the kernel stack both times
            FieldProbe(f"{t}_timer_shared_sub_480", t, _st(48) + _lookup() + _INIT + _SET
                       + "call sub\nout:\nr0 = 0\nexit\ncb:\ncall sub\nr0 = 0\nexit\n"
                       + sub480, [(HASH, 4, VALUE, 4, 0)], fields=[TIMER]),
            FieldProbe(f"{t}_timer_main_sub_480_own_cb{ok}", t, _st(48) + _lookup() + _INIT
                       + _SET + "call sub\nout:\nr0 = 0\nexit\ncb:\nr0 = 0\nexit\n" + sub480,
                       [(HASH, 4, VALUE, 4, 0)], fields=[TIMER]),
        ]
    # global functions: in the chain as static ones (and in the frame count)
    for t in ("kprobe", "xdp"):
        ok = "_ok" if t == "kprobe" else ""
        out += [GlobalsProbe(f"{t}_global_256_264{ok}", t, chain_text((256, 264), ctx=False),
                             global_at=(1,)),
                GlobalsProbe(f"{t}_global_16_16_496{ok}", t, chain_text((16, 16, 496), ctx=False),
                             global_at=(1,)),
                GlobalsProbe(f"{t}_global_leaf_16_16_496{ok}", t, chain_text((16, 16, 496), ctx=False),
                             global_at=(2,)),
                GlobalsProbe(f"{t}_global_256_256_ok", t, chain_text((256, 256), ctx=False),
                             global_at=(1,)),
                GlobalsProbe(f"{t}_global_mid_9_frames", t, chain_text((8,) * 9, ctx=False),
                             global_at=(4,))]
    # a bpf_loop callback (synchronous) may have a private stack
    loop = "r1 = 4\nr2 = func cb\nr3 = 0\nr4 = 0\ncall 181\nr0 = 0\nexit\ncb:\n"
    for t in ("kprobe", "xdp"):
        ok = "_ok" if t == "kprobe" else ""
        out += [CbProbe(f"{t}_loop_main_480_cb_64{ok}", t, _st(480) + loop + _st(64)
                        + "r0 = 0\nexit\n")]
    return out


def kernel_load(obj, prog):
    """The kernel's LoadResult (fd closed), every function with BTF func info (a
    subprogram's tail call needs it; a GlobalsProbe's object has its own)."""
    starts = sorted(func_starts(prog))
    return load_with_func_info(obj, prog, lambda p: (
        func_btf([f"f{pc}" for pc in starts]), func_info_records(starts)))
