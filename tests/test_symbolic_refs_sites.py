"""M0/M1/M2 answers of the Z3 engine for programs using what it now follows besides
sockets (tests/test_symbolic_sockets.py): kfuncs with references and RCU sections
(model.symbolic.kfuncs), bpf_map_lookup_percpu_elem (model.symbolic.percpu). Each
program has one static site (key ``k``; ``goto +0`` at the site's pc): unsafe exactly
when the key is on, the kernel rejecting the program materialised with the key on
(model.materialize) and accepting it with the key off; a safe variant is safe under every
model and both its materialised programs load. The interpreter
confirms the counterexample where it runs the feature (percpu lookups; not kfuncs)."""

from __future__ import annotations

import pytest

from model.program import Site
from model.symbolic import analyse_program
from model.verifier.checker import check_program

_FROM_PID = "r1 = 1\ncall kfunc bpf_task_from_pid\n"  # pcs 0-1
_KEY = "r1 = 0\n*(u32 *)(r10 - 4) = r1\nld_pseudo r1, 1, 0\nr2 = r10\nr2 += -4\n"  # 0-5
PERCPU_ARRAY = (6, 4, 8, 4, 0)

CASES = {  # name: (section, text, site pc, site target, maps, unsafe when on)
    # 2: NULL check; 3: the site, on: the release skipped (a leak)
    "kfunc_leak": ("tc", _FROM_PID + "if r0 == 0 goto +3\ngoto +0\nr1 = r0\n"
                   "call kfunc bpf_task_release\nr0 = 0\nexit", 3, 6, [], True),
    # 1: the site, on: exit inside the RCU section
    "rcu_exit": ("tc", "call kfunc bpf_rcu_read_lock\ngoto +0\n"
                 "call kfunc bpf_rcu_read_unlock\nr0 = 0\nexit", 1, 3, [], True),
    # both edges release (on: through a copy): safe
    "kfunc_either": ("tc", _FROM_PID + "if r0 == 0 goto +7\nr6 = r0\ngoto +0\nr1 = r0\n"
                     "call kfunc bpf_task_release\ngoto +2\nr1 = r6\n"
                     "call kfunc bpf_task_release\nr0 = 0\nexit", 4, 8, [], False),
    # 8: the site, on: the NULL check skipped (CPU 4096: NULL)
    "percpu_null": ("tc", _KEY + "r3 = 4096\ncall 195\ngoto +0\nif r0 == 0 goto +1\n"
                    "r0 = *(u64 *)(r0 + 0)\nr0 = 0\nexit", 8, 10, [PERCPU_ARRAY], True),
}


def _build(text: str, section: str, maps):
    from kfunc_probes import resolve
    from model.program import MapDef, MapRef
    from soundness_probes import Probe
    from tracing_probes import build

    obj, prog = build(resolve(text), section)
    for k, (t, ks, vs, n, fl) in enumerate(maps):
        obj.maps[f"m{k}"] = MapDef(f"m{k}", t, ks, vs, n, fl)
    for pc, k in Probe("x", "sched_cls", resolve(text), list(maps)).refs().items():
        prog.map_refs[pc] = MapRef(pc, f"m{k}")
    return obj, prog


def kernel_accepts(obj, prog, on: bool) -> bool | None:
    """The kernel's verdict on the program materialised with key ``k`` on / off (None:
    bpf(2) unavailable)."""
    from model.kernel import available
    from model.kernel.objload import load_program
    from model.materialize import materialize

    if not available()[0]:
        return None
    r = load_program(obj, materialize(prog, keys={"k": on}))
    if r.ok and r.fd is not None:
        r.close()
    return r.ok


@pytest.mark.parametrize("name", sorted(CASES))
def test_models_and_materialised_programs(name):
    from model.platform.tracing_targets import vmlinux_btf

    if vmlinux_btf() is None:
        pytest.skip("no vmlinux BTF")
    section, text, pc, target, maps, unsafe = CASES[name]
    obj, prog = _build(text, section, maps)
    prog.sites = [Site(0, prog.name, pc, target, "k", False, "2023")]
    v = check_program(obj, prog)
    doc = analyse_program(obj, prog, verifier=v)
    assert not doc["exhausted"] and doc["complete"], doc["exhausted"]
    m = doc["models"]
    assert doc["cross_check"] != "SOUNDNESS BUG"
    if not unsafe:
        assert v.accepted and all(m[x]["safe"] is True for x in ("M0", "M1", "M2")), m
    else:
        assert m["M0"]["safe"] is False and m["M0"]["unsafe_when"] == [{"k": 1}], m
        assert m["M1"]["safe"] is False and m["M2"]["safe"] is False
        cx = doc["counterexample"]
        if name.startswith("percpu"):  # the interpreter runs the lookup
            assert cx["confirmed"], cx
    on, off = kernel_accepts(obj, prog, True), kernel_accepts(obj, prog, False)
    if on is None:
        pytest.skip("the kernel's bpf(2) is unavailable")
    assert off and on != unsafe
