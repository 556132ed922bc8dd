"""skb / xdp dynptrs and dynptr slices (model.verifier.dynptr_kfuncs, the rows of
model.platform.kfuncs) against the running kernel: every probe of tests/skb_dynptr_probes.py
gets the kernel's verdict and words; the Z3 engine decides them all."""

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


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p[0])
def test_z3_engine_judges_them(probe):
    """The Z3 engine (model/symbolic/skb_dynptrs.py) decides every probe, slices with a
    stack buffer too: "safe" exactly where the kernel accepts (the ``_ok`` ones), an
    unsafe execution elsewhere."""
    from model.symbolic import analyse_program

    name = probe[0]
    obj, prog = _build(probe)
    doc = analyse_program(obj, prog)
    safe = doc["models"]["M2"]["safe"]
    assert safe is name.endswith("_ok"), (name, doc["exhausted"], doc["cross_check"])
    assert doc["cross_check"] != "SOUNDNESS BUG"


def test_probe_set():
    """Both verdicts, every kfunc and both program families are covered."""
    names = [p[0] for p in PROBES]
    assert len(names) == len(set(names)) >= 50
    assert sum(n.endswith("_ok") for n in names) >= 15
    for k in ("from_skb", "from_xdp", "slice", "slice_rdwr"):
        assert any(f"bpf_dynptr_{k}\n" in p[2] or f"bpf_dynptr_{k}\\n" in p[2]
                   for p in PROBES), k
