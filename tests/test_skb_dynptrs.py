"""skb / xdp dynptrs and dynptr slices (model.verifier.dynptr_kfuncs, the rows of
model.platform.kfuncs) against the running kernel: every probe of tests/skb_dynptr_probes.py
gets the kernel's verdict and words; the Z3 engine gives a clean "not modelled" for the
kfuncs (never "safe", never a crash)."""

from __future__ import annotations

import pytest

from kfunc_probes import resolve
from model.kernel import available
from skb_dynptr_probes import PROBES

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])
#: kernel rejections skv words differently (both reject): skv's reason
WORDED = {
    # netfilter's context is no __sk_buff: skv does not model the kfunc there
    "from_skb_netfilter": "not modelled: kfunc bpf_dynptr_from_skb in a netfilter program",
}


def _build(probe):
    from tracing_probes import build

    name, section, text = probe
    return build(resolve(text), section)


@needs_kernel
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p[0])
def test_skb_dynptr_probe_against_kernel(probe):
    """Never accept what the kernel refuses; the same verdict (the ``_ok`` probes load)
    and, but for WORDED, the kernel's words."""
    from tracing_probes import kernel_verdict, skv_verdict

    name = probe[0]
    obj, prog = _build(probe)
    k, ours = kernel_verdict(prog), skv_verdict(obj, prog)
    assert not (ours.ok and not k.ok), f"FALSE ACCEPT {name}: kernel: {k.msg}"
    assert k.ok == name.endswith("_ok"), (name, k.msg)
    assert ours.ok == k.ok, f"{name}: kernel {k.ok} ({k.msg}), skv {ours.msg}"
    if not k.ok:
        assert ours.msg.splitlines()[-1] == WORDED.get(name, k.msg)


@pytest.mark.parametrize("name", ["slice_read_ok", "slice_rdwr_xdp_ok", "write_skb_socket_ok"])
def test_z3_engine_leaves_them_to_the_verifier(name):
    """The Z3 engine does not follow the kfuncs: "not modelled" (unknown, never "safe");
    the interpreter runs them (tests/test_interp_skb_dynptrs.py)."""
    from model.symbolic import analyse_program

    obj, prog = _build(next(p for p in PROBES if p[0] == name))
    doc = analyse_program(obj, prog)
    assert doc["models"]["M2"]["safe"] is not True
    assert any("not modelled: kfunc bpf_dynptr_" in e for e in doc["exhausted"]), doc


def test_probe_set():
    """Both verdicts, every kfunc and both program families are covered."""
    names = [p[0] for p in PROBES]
    assert len(names) == len(set(names)) >= 50
    assert sum(n.endswith("_ok") for n in names) >= 15
    for k in ("from_skb", "from_xdp", "slice", "slice_rdwr"):
        assert any(f"bpf_dynptr_{k}\n" in p[2] or f"bpf_dynptr_{k}\\n" in p[2]
                   for p in PROBES), k
