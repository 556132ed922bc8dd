"""Helper calls of the rule-surface generator: any helper id, each argument a plausible or
implausible value (ctx, moved ctx, stack with/without initialised bytes, map pointers of
any type, map values, NULL, scalars, packet pointers, callbacks, sizes 0/positive/unbounded),
then a use of r0 (or of a clobbered argument register).

Values that need a call of their own (a map value, an unknown scalar) are made first and
kept in r7-r9; the argument registers r1-r5 are set last.
"""

from __future__ import annotations

import functools

from model.isa import Alu, Call, Exit, Load, LoadImm64, Store
from model.platform.helpers import HELPER_NAMES
from model.platform.prototypes import PROTOTYPES, Arg, helper_allowed
from rulegen_base import (MAP_CATALOG, SKB_PKT_OFFS, PKT_OFFS, VALUE_KINDS, BPF_F_RDONLY_PROG,
                          BPF_F_WRONLY_PROG, MapSpec)

LOOKUP, PRANDOM = 1, 7
HELPER_IDS = tuple(sorted(HELPER_NAMES))
HID = {n.removeprefix("bpf_"): i for i, n in HELPER_NAMES.items()}
MAP_HELPERS = tuple(HID[n] for n in (
    "map_lookup_elem", "map_update_elem", "map_delete_elem", "tail_call", "perf_event_output",
    "get_stackid", "redirect_map", "sk_redirect_map", "sock_map_update", "msg_redirect_map",
    "map_push_elem", "map_pop_elem", "map_peek_elem", "for_each_map_elem",
    "map_lookup_percpu_elem", "ringbuf_output", "ringbuf_reserve", "ringbuf_query",
    "sock_hash_update", "msg_redirect_hash", "sk_redirect_hash", "sk_select_reuseport",
    "get_local_storage", "current_task_under_cgroup", "skb_under_cgroup",
    "perf_event_read", "perf_event_read_value", "user_ringbuf_drain", "skb_output",
    "xdp_output", "sk_storage_get", "task_storage_get", "inode_storage_get",
    "cgrp_storage_get", "timer_init", "spin_lock", "kptr_xchg"))
#: helpers with a memory argument followed by its size
MEM_HELPERS = tuple(sorted(h for h, p in PROTOTYPES.items()
                           if any(a.is_size for a in p.args)))
ARG_KINDS = ("ctx", "ctx_off", "stack_init", "stack_uninit", "stack_partial", "fp", "map",
             "map_value", "map_value_or_null", "null", "const", "neg", "unknown", "bounded",
             "pkt", "pkt_checked", "pkt_end", "ld64", "func")
SIZE_KINDS = ("zero", "exact", "exact", "exact", "over", "small", "small", "unbounded",
              "bounded", "bounded_pos", "bounded_pos", "neg", "big")
MEM_KINDS = ("null", "stack_init", "stack_uninit", "stack_partial", "map_value", "ctx",
             "pkt_checked", "pkt", "fp", "map_value_or_null")


@functools.lru_cache(maxsize=None)
def allowed_helpers(ptype: str) -> tuple[int, ...]:
    """The helpers skv's table allows ``ptype`` (drawn half the time, so that calls get
    past the allow-list to their arguments; the other half is any id)."""
    from model.errors import NotModelled

    try:
        return tuple(h for h in HELPER_IDS if h in PROTOTYPES and helper_allowed(ptype, h))
    except NotModelled:  # a program type whose helper table skv does not have
        return ()


class ArgSnippets:
    # -- maps ------------------------------------------------------------------------------
    def new_map(self, kind: str | None = None) -> MapSpec:
        d = self.d
        kind = kind or d.pick(tuple(MAP_CATALOG))
        key, value, maxe, flags, extra = MAP_CATALOG[kind]
        if kind in VALUE_KINDS:
            value = d.pick((4, 8, 16, 48))
            r = d.int(0, 9)
            flags |= BPF_F_RDONLY_PROG if r < 2 else BPF_F_WRONLY_PROG if r < 4 else 0
        if kind == "stack_trace":
            value = 8 * d.int(1, 8)
        name = f"m{len(self.maps)}"
        self.maps[name] = MapSpec(name, kind, key, value, maxe, flags, extra,
                                  inner_value=d.pick((4, 8, 16)))
        if "map_flags" not in self.features and flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG):
            self.features.append("map_flags")
        return self.maps[name]

    def pick_map(self, kinds: tuple[str, ...] | None = None) -> MapSpec:
        have = [m for m in self.maps.values() if kinds is None or m.kind in kinds]
        if have and (len(self.maps) >= 3 or self.d.bool()):
            return self.d.pick(have)
        return self.new_map(self.d.pick(kinds) if kinds else None)

    def pkt_offs(self) -> tuple[int, int, int]:
        return PKT_OFFS.get(self.ptype, SKB_PKT_OFFS)

    # -- values ----------------------------------------------------------------------------
    def stack_bytes(self, n: int, off: int, upto: int | None = None) -> None:
        """Initialise ``upto`` (default ``n``) bytes of the stack at ``fp+off``."""
        done = 0
        for o in range(0, upto if upto is not None else n, 8):
            w = 8 if o + 8 <= n else 4 if o + 4 <= n else 1
            self.a.put(Store(w, 10, off + o, imm=self.d.pick((0, 1, 0x41))))
            done += w
        for o in range(done, upto if upto is not None else n):
            self.a.put(Store(1, 10, off + o, imm=0))

    def value(self, kind: str, r: int, save: list[int], size: int, pre: list, post: list):
        """Plan ``kind`` into ``r``: code now (``pre``, may clobber r0-r5 but keeps its result
        in a register popped from ``save``) and code when the arguments are set (``post``)."""
        d, a = self.d, self.a
        if kind in ("map_value", "map_value_or_null", "unknown", "bounded", "pkt",
                    "pkt_checked", "pkt_end"):
            if not save:
                kind = "null"
            else:
                keep = save.pop()
                pre.append(lambda: self._pre_value(kind, keep))
                off = d.pick((0, 0, 0, 4, -4, 8)) if kind.startswith("map") else 0
                move = [Alu("mov", True, r, src=keep)] + \
                    ([Alu("add", True, r, imm=off)] if off else [])
                post.append(lambda: a.put(*move))
                return
        if kind in ("stack_init", "stack_partial", "stack_uninit"):
            off = -8 * d.int(1, 8) - (((size + 7) // 8) * 8 if size > 0 else 0)
            off = max(off, -512)
            if kind == "stack_uninit":
                off = -512 + 8 * d.int(0, 8)  # a region nothing else writes
            elif size > 0:
                pre.append(lambda: self.stack_bytes(size, off,
                                                    None if kind == "stack_init"
                                                    else max(0, size // 2 - 1)))
            post.append(lambda: a.put(Alu("mov", True, r, src=10), Alu("add", True, r, imm=off)))
        elif kind == "ctx":
            post.append(lambda: a.put(Alu("mov", True, r, src=6)))
        elif kind == "ctx_off":
            c = d.pick((4, 8, -8, 16))
            post.append(lambda: a.put(Alu("mov", True, r, src=6), Alu("add", True, r, imm=c)))
        elif kind == "fp":
            post.append(lambda: a.put(Alu("mov", True, r, src=10)))
        elif kind == "map":
            m = self.pick_map()
            post.append(lambda: a.ldmap(r, m.name))
        elif kind == "null":
            post.append(lambda: a.put(Alu("mov", True, r, imm=0)))
        elif kind == "const":
            c = d.pick((1, 4, 8, 16, 64, 512, 4096, 0x7FFFFFFF))
            post.append(lambda: a.put(Alu("mov", True, r, imm=c)))
        elif kind == "neg":
            c = d.pick((-1, -8, -4096))
            post.append(lambda: a.put(Alu("mov", True, r, imm=c)))
        elif kind == "ld64":
            c = d.pick((1 << 32, -(1 << 40), 0xFFFFFFFF))
            post.append(lambda: a.put(LoadImm64.from_value(r, c)))
        elif kind == "func":
            label = self.callback()
            post.append(lambda: a.ldfunc(r, label))
        else:
            raise AssertionError(kind)

    def _pre_value(self, kind: str, keep: int) -> None:
        d, a = self.d, self.a
        if kind.startswith("map_value"):
            m = self.pick_map(("hash", "array", "percpu_array", "lru_hash", "lpm_trie",
                               "percpu_hash", "array_of_maps", "hash_of_maps",
                               "cgroup_storage", "sockmap", "devmap", "cpumap", "xskmap",
                               "queue", "stack_trace", "prog_array", "lru_percpu_hash"))
            self.stack_bytes(max(m.key_size, 1), -16 - ((m.key_size + 7) // 8) * 8)
            a.ldmap(1, m.name)
            a.put(Alu("mov", True, 2, src=10),
                  Alu("add", True, 2, imm=-16 - ((m.key_size + 7) // 8) * 8), Call(0, LOOKUP))
            if kind == "map_value":
                a.jmp("jeq", 0, self.out, imm=0)
            a.put(Alu("mov", True, keep, src=0))
        elif kind in ("unknown", "bounded"):
            a.put(Call(0, PRANDOM))
            if kind == "bounded":
                a.put(Alu("and", True, 0, imm=d.pick((7, 15, 63, 255))))
            a.put(Alu("mov", True, keep, src=0))
        else:  # packet pointers
            data, end, _ = self.pkt_offs()
            a.put(Load(4, 2, 6, data), Load(4, 3, 6, end))
            if kind == "pkt_checked":
                n = d.pick((8, 14, 16, 64))
                a.put(Alu("mov", True, 1, src=2), Alu("add", True, 1, imm=n))
                a.jmp("jgt", 1, self.out, src=3)
            a.put(Alu("mov", True, keep, src=3 if kind == "pkt_end" else 2))

    def size_value(self, kind: str, r: int, buf: int, save: list[int], pre: list, post: list):
        d = self.d
        if kind in ("unbounded", "bounded", "bounded_pos") and save:
            keep = save.pop()
            mask = d.pick((7, 15, 63)) if kind != "unbounded" else None

            def make():
                self.a.put(Call(0, PRANDOM))
                if mask is not None:
                    self.a.put(Alu("and", True, 0, imm=mask))
                if kind == "bounded_pos":
                    self.a.put(Alu("add", True, 0, imm=1))
                self.a.put(Alu("mov", True, keep, src=0))
            pre.append(make)
            post.append(lambda: self.a.put(Alu("mov", True, r, src=keep)))
            return
        c = {"zero": 0, "exact": buf, "over": buf + d.pick((1, 8)), "small": max(buf // 2, 1),
             "neg": -1, "big": d.pick((4096, 1 << 20))}.get(kind, buf)
        post.append(lambda: self.a.put(Alu("mov", True, r, imm=c)))

    def callback(self) -> str:
        """A callback subprogram (r0 = 0 or 1, or something a callback may not return)."""
        d, label = self.d, self.a.label()
        ret = d.pick((0, 0, 1, 2, -1))
        reads = d.int(0, 4)

        def body():
            if reads == 1:
                self.a.put(Load(8, 0, 1, 0))        # deref the first callback argument
            elif reads == 2:
                self.a.put(Alu("mov", True, 0, src=5))
            self.a.put(Alu("mov", True, 0, imm=ret), Exit())
        self.subs.append((label, body))
        return label

    # -- the snippet -----------------------------------------------------------------------
    def plausible_arg(self, at) -> str:
        d = self.d
        b = at.base
        if b is Arg.CONST_MAP_PTR:
            return "map"
        if b in (Arg.PTR_TO_MAP_KEY, Arg.PTR_TO_MAP_VALUE):
            return d.pick(("stack_init", "stack_init", "stack_uninit", "map_value", "pkt_checked"))
        if b is Arg.PTR_TO_MEM:
            return d.pick(MEM_KINDS)
        if b is Arg.PTR_TO_CTX:
            return d.pick(("ctx", "ctx", "ctx", "ctx_off"))
        if b is Arg.PTR_TO_FUNC:
            return "func"
        if b in (Arg.PTR_TO_STACK, Arg.PTR_TO_DYNPTR, Arg.PTR_TO_TIMER, Arg.PTR_TO_SPIN_LOCK):
            return d.pick(("stack_init", "stack_uninit", "map_value", "null"))
        if b is Arg.DONTCARE:
            return d.pick(ARG_KINDS)
        return d.pick(("const", "null", "unknown", "bounded", "ctx", "stack_init"))

    def helper_call(self, hid: int, plausible: float, mem_bias: bool = False) -> None:
        """Call ``hid`` with drawn arguments, then use r0 or an argument register."""
        d, a = self.d, self.a
        proto = PROTOTYPES.get(hid)
        nargs = len(proto.args) if proto and d.int(0, 9) < 8 else d.int(0, 5)
        save, pre, post = [7, 8, 9], [], []
        buf = 0
        for i in range(nargs):
            r = i + 1
            at = proto.args[i] if proto and i < len(proto.args) else None
            if at is not None and at.is_size and d.int(0, 99) < 100 * max(plausible, 0.7):
                self.size_value(d.pick(SIZE_KINDS), r, buf, save, pre, post)
                continue
            if at is not None and d.int(0, 99) < 100 * plausible:
                kind = self.plausible_arg(at)
                if mem_bias and at.base is Arg.PTR_TO_MEM:
                    kind = d.pick(MEM_KINDS)
            else:
                kind = d.pick(ARG_KINDS)
            buf = d.pick((4, 8, 16, 32)) if kind.startswith("stack") else \
                {"map_value": 16, "pkt_checked": 8}.get(kind, 8)
            self.value(kind, r, save, buf, pre, post)
        for f in pre:
            f()
        for f in post:
            f()
        a.put(Call(0, hid))
        self.after_call(hid)

    def after_call(self, hid: int) -> None:
        d, a = self.d, self.a
        use = d.int(0, 13)
        if use <= 2 or use > 9:
            return
        if use == 3:
            a.put(Alu("mov", True, 0, src=d.int(1, 5)))     # a clobbered argument register
        elif use == 4:
            a.put(Load(8, 1, 0, 0))                        # r0 unchecked
        elif use in (5, 6, 7):
            off = d.pick((0, 0, 4, 8, 12, 15, 16, 40, 48, -8))
            size = d.pick((1, 4, 8))
            a.jmp("jeq", 0, self.out, imm=0)
            if d.bool():
                a.put(Load(size, 1, 0, off - off % size))
            else:
                a.put(Store(size, 0, off - off % size, imm=1))
            if hid == HID["ringbuf_reserve"] and d.int(0, 2):
                a.put(Alu("mov", True, 1, src=0), Alu("mov", True, 2, imm=0),
                      Call(0, d.pick((HID["ringbuf_submit"], HID["ringbuf_discard"]))))
        elif use == 8:
            a.put(Alu("add", True, 0, imm=8), Alu("mov", True, 1, src=0))
        else:
            a.jmp("jne", 0, self.out, imm=0)               # continue only on r0 == 0

    def _helper(self) -> None:
        """Any helper id (0..211), arguments plausible for its prototype or not."""
        d = self.d
        hid = d.pick(HELPER_IDS)
        if d.bool():                                  # one skv's table allows, if any
            allowed = allowed_helpers(self.ptype)
            hid = d.pick(allowed) if allowed else hid
        self.features.append(f"call#{hid}")
        self.helper_call(hid, d.pick((0.0, 0.5, 0.8, 1.0)))

    def _map(self) -> None:
        """A map helper with a map of any type, or a direct access to a map value."""
        d, a = self.d, self.a
        if d.int(0, 2):
            hid = d.pick(MAP_HELPERS)
            self.features.append(f"call#{hid}")
            return self.helper_call(hid, d.pick((0.7, 0.9, 1.0)))
        if d.int(0, 3) == 0:
            return self._direct_value()
        m = self.pick_map(VALUE_KINDS[:7] if d.bool() else None)
        self.features.append(f"value:{m.kind}")
        self.stack_bytes(max(m.key_size, 1), -16)
        a.ldmap(1, m.name)
        a.put(Alu("mov", True, 2, src=10), Alu("add", True, 2, imm=-16), Call(0, LOOKUP))
        a.jmp("jeq", 0, self.out, imm=0)
        if m.kind in ("array_of_maps", "hash_of_maps") and d.int(0, 2):
            self.features.append("inner_lookup")       # r0 is the inner map (or is it?)
            a.put(Alu("mov", True, 1, src=0), Alu("mov", True, 2, src=10),
                  Alu("add", True, 2, imm=-16), Call(0, LOOKUP))
            if d.int(0, 3):
                a.jmp("jeq", 0, self.out, imm=0)
            m = MapSpec("inner", "array", 4, m.inner_value, 1)
        size = d.pick((1, 2, 4, 8))
        off = d.pick((0, 0, 4, 8, m.value_size - size, m.value_size, -size))
        if d.bool():
            a.put(Load(size, 1, 0, off))
        else:
            a.put(Store(size, 0, off, imm=7) if d.bool() else Store(size, 0, off, src=10))

    def _direct_value(self) -> None:
        """``r1 = &map value + off`` (ld_imm64 src 2) and an access through it."""
        d, a = self.d, self.a
        m = self.pick_map(("array", "array", "array", "hash", "percpu_array", "arena"))
        off = d.pick((0, 0, 4, 8, m.value_size - 4, m.value_size, m.value_size + 8, -8))
        self.features.append(f"direct_value:{m.kind}:{off}")
        a.ldmap(1, m.name, off)
        size = d.pick((1, 4, 8))
        at = d.pick((0, 0, 4, 8, -4))
        if d.bool():
            a.put(Load(size, 2, 1, at - at % size))
        else:
            a.put(Store(size, 1, at - at % size, imm=1))

    def _mem(self) -> None:
        """A helper with a memory argument and its size: NULL/size combinations."""
        hid = self.d.pick(MEM_HELPERS)
        self.features.append(f"call#{hid}")
        self.helper_call(hid, 1.0, mem_bias=True)
