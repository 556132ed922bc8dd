"""Probe programs for bpf_spin_lock / bpf_spin_unlock (``tests/test_references.py``): a map
whose value BTF puts a ``struct bpf_spin_lock`` at :data:`LOCK_OFF`, judged by the kernel.
Names ending in ``_ok`` are the valid twins; the kernel decides what each one expects."""

from __future__ import annotations

from dataclasses import dataclass, field

from model.isa import encode
from model.program import MapDef
from soundness_maps_probes import _LOOKUP as MAP_LOOKUP
from soundness_probes import Probe

LOCK, UNLOCK = 93, 94
LOCK_OFF = 4
HASH, ARRAY = 1, 2
#: the value: int at 0, the lock at 4, ints at 8 and 12
SHAPE = (4, 16, 1)
FIELDS = {LOCK_OFF: ("bpf_spin_lock", 4)}


@dataclass
class LockProbe(Probe):
    """A probe whose map k has the special fields ``fields[k]`` (offset -> (struct, size))."""

    fields: list[dict] = field(default_factory=list)

    def model(self):
        obj, prog = super().model()
        for k, f in enumerate(self.fields):
            if f is None:
                continue
            m = obj.maps[f"m{k}"]
            m.fields = tuple((name, off, size) for off, (name, size) in sorted(f.items()))
        return obj, prog

    def kernel(self):
        from model.kernel import available, map_create, verify
        from model.kernel.btf_maps import map_create_btf

        if not available()[0]:
            return None
        made = []
        try:
            for k, (t, ks, vs, n, fl) in enumerate(self.maps):
                f = self.fields[k] if k < len(self.fields) else None
                made.append(map_create_btf(t, ks, vs, n, f, fl) if f is not None
                            else map_create(t, ks, vs, n, fl))
            slots = {pc: made[k] for pc, k in self.refs().items()}
            return verify(encode(self.insns()), self.prog_type, maps=slots)
        finally:
            for m in made:
                m.close()


_LOOKUP = MAP_LOOKUP + "r7 = r0\n"  # r7: the value of key 0, checked
_OUT = "out:\nr0 = 0\nexit\n"
_LOCK = f"r1 = r7\nr1 += {LOCK_OFF}\ncall {LOCK}\n"
_UNLOCK = f"r1 = r7\nr1 += {LOCK_OFF}\ncall {UNLOCK}\n"


def _lp(name: str, body: str, ptype: str = "sched_cls", map_type: int = HASH,
        fields=FIELDS, extra=(), tail: str = "") -> LockProbe:
    return LockProbe(name, ptype, _LOOKUP + body + _OUT + tail,
                     [(map_type, *SHAPE, 0), *extra], [fields])


SPIN_LOCK_PROBES = [
    _lp("lock_unlock_ok", _LOCK + "r1 = *(u32 *)(r7 + 0)\nr1 += 1\n*(u32 *)(r7 + 0) = r1\n"
        + _UNLOCK),
    _lp("lock_unlock_array_ok", _LOCK + _UNLOCK, map_type=ARRAY),
    _lp("lock_xdp_ok", _LOCK + _UNLOCK, ptype="xdp"),
    _lp("lock_no_unlock", _LOCK),
    _lp("unlock_without_lock", _UNLOCK),
    _lp("lock_twice", _LOCK + _LOCK + _UNLOCK),
    _lp("unlock_twice", _LOCK + _UNLOCK + _UNLOCK),
    _lp("lock_wrong_offset", "r1 = r7\ncall 93\n" + "r1 = r7\ncall 94\n"),
    _lp("lock_variable_offset", "call 7\nr0 &= 4\nr1 = r7\nr1 += r0\ncall 93\n" + _UNLOCK),
    _lp("lock_map_without_lock", _LOCK + _UNLOCK, fields={}),
    _lp("lock_map_without_btf", _LOCK + _UNLOCK, fields=None),
    _lp("lock_stack_ptr", "r1 = r10\nr1 += -8\ncall 93\n"),
    _lp("lock_helper_call_inside", _LOCK + "call 7\n" + _UNLOCK),
    _lp("lock_subprog_call_inside_ok", _LOCK + "call sub\n" + _UNLOCK,
        tail="sub:\nr0 = 0\nexit\n"),
    _lp("lock_direct_read", _LOCK + "r1 = *(u32 *)(r7 + 4)\n" + _UNLOCK),
    _lp("lock_direct_write", "r1 = 0\n*(u32 *)(r7 + 4) = r1\n"),
    _lp("lock_direct_read_u64", "r1 = *(u64 *)(r7 + 0)\n"),
    _lp("lock_read_next_ok", "r1 = *(u32 *)(r7 + 8)\n"),
    _lp("lock_var_read_overlapping", "call 7\nr0 &= 4\nr1 = r7\nr1 += r0\n"
        "r2 = *(u32 *)(r1 + 0)\n"),
    _lp("lock_helper_mem_overlapping", "r1 = r7\nr2 = 16\nr3 = 0\nr4 = 0\nr5 = 0\ncall 28\n"),
    _lp("lock_exit_inside", _LOCK + "r1 = *(u32 *)(r7 + 0)\nif r1 > 3 goto done\n" + _UNLOCK
        + "done:\nr0 = 0\nexit\n"),
    _lp("lock_unlock_in_subprog_ok", _LOCK + "r1 = r7\ncall sub\n",
        tail=f"sub:\nr1 += {LOCK_OFF}\ncall {UNLOCK}\nr0 = 0\nexit\n"),
    _lp("lock_in_subprog_exit_held_ok", "r1 = r7\ncall sub\n" + _UNLOCK,
        tail=f"sub:\nr1 += {LOCK_OFF}\ncall {LOCK}\nr0 = 0\nexit\n"),
    _lp("lock_two_lookups_unlock_other", "r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\ncall 1\n"
        "if r0 == 0 goto out\nr8 = r0\n" + _LOCK + f"r1 = r8\nr1 += {LOCK_OFF}\n"
        f"call {UNLOCK}\n"),
    _lp("lock_copy_unlock_ok", "r8 = r7\n" + _LOCK + f"r1 = r8\nr1 += {LOCK_OFF}\n"
        f"call {UNLOCK}\n"),
    _lp("lock_ld_abs_inside", _LOCK + "r0 = *(u8 *)skb[0]\n" + _UNLOCK),
    _lp("lock_socket_filter", _LOCK + _UNLOCK, ptype="socket_filter"),
    _lp("lock_kprobe", _LOCK + _UNLOCK, ptype="kprobe"),
    _lp("lock_branch_unlock_one_path", _LOCK + "r1 = *(u32 *)(r7 + 0)\nif r1 > 3 goto out\n"
        + _UNLOCK),
    _lp("lock_branch_both_unlock_ok", _LOCK + "r1 = *(u32 *)(r7 + 0)\nif r1 > 3 goto two\n"
        + _UNLOCK + "goto out\ntwo:\n" + _UNLOCK),
    _lp("lock_tail_call_inside", _LOCK + "r1 = r6\nld_pseudo r2, 1, 1\nr3 = 0\ncall 12\n"
        + _UNLOCK, extra=[(3, 4, 4, 1, 0)]),
    _lp("lock_array_two_lookups_same_key", "r1 = 0\n*(u32 *)(r10 - 4) = r1\n"
        "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto out\nr8 = r0\n"
        + _LOCK + f"r1 = r8\nr1 += {LOCK_OFF}\ncall {UNLOCK}\n", map_type=ARRAY),
    _lp("lock_subprog_helper_inside", _LOCK + "call sub\n" + _UNLOCK,
        tail="sub:\ncall 7\nr0 = 0\nexit\n"),
    _lp("lock_atomic_on_lock", "r1 = 1\nlock *(u32 *)(r7 + 4) += r1\n"),
    _lp("lock_update_from_value", "r1 = 0\n*(u32 *)(r10 - 8) = r1\nld_pseudo r1, 1, 0\n"
        "r2 = r10\nr2 += -8\nr3 = r7\nr4 = 0\ncall 2\n"),
    _lp("lock_spill_fill_unlock_ok", "*(u64 *)(r10 - 16) = r7\n" + _LOCK
        + f"r1 = *(u64 *)(r10 - 16)\nr1 += {LOCK_OFF}\ncall {UNLOCK}\n"),
    _lp("lock_join_both_locked_ok", _LOCK + "r1 = *(u32 *)(r7 + 0)\nif r1 > 3 goto two\n"
        "r1 = 1\n*(u32 *)(r7 + 8) = r1\ngoto join\ntwo:\nr1 = 2\n*(u32 *)(r7 + 12) = r1\n"
        "join:\n" + _UNLOCK),
    _lp("lock_join_one_locked", "r1 = *(u32 *)(r7 + 0)\nif r1 > 3 goto join\n" + _LOCK
        + "join:\nr1 = 1\n*(u32 *)(r7 + 8) = r1\n" + _UNLOCK),
    LockProbe("lock_before_null_check", "sched_cls", _LOOKUP.replace(
        "if r0 == 0 goto out\nr7 = r0\n", "r7 = r0\n") + _LOCK + _UNLOCK + _OUT,
        [(HASH, *SHAPE, 0)], [FIELDS]),
]
