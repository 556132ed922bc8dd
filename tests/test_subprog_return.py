"""r0 at the exit of a called function: the kernel hands it back to the caller as it is, set
or not (prepare_func_exit), and only the main program's exit (check_return_code) or a
callback's return requires it (tests/callback_probes.py: "R0 not a scalar value"). Found on xdp-project's pping (void static functions); each
program is judged by the abstract verifier, the Z3 engine and the interpreter, and compared
with the running kernel."""

from __future__ import annotations

import pytest

from conftest import kernel_or_skip
from model.interp.machine import Machine
from model.isa import assemble, encode
from model.program import BpfObject, Program
from model.symbolic import analyse_program
from model.verifier.checker import check_program

CASES = [
    # (name, program text, accepted by the kernel)
    ("void_callee", "call f\nr0 = 0\nexit\nf: exit", True),
    ("void_callee_on_one_path", "call f\nr0 = 0\nexit\n"
     "f: r1 = 1\nif r1 > 0 goto l\nr0 = 1\nl: exit", True),
    ("nested_void_callees", "call f\nr0 = 0\nexit\nf: call g\nexit\ng: exit", True),
    ("caller_returns_it", "call f\nexit\nf: exit", False),
    ("caller_reads_it", "call f\nr1 = r0\nr0 = 0\nexit\nf: exit", False),
    ("main_exit_unset", "r1 = 0\nexit", False),
]


def _program(text: str) -> tuple[BpfObject, Program]:
    prog = Program("t", "socket", assemble(text))
    return BpfObject("inline", "GPL", {}, [prog]), prog


@pytest.mark.parametrize("name,text,ok", CASES, ids=[c[0] for c in CASES])
def test_called_function_exit(name, text, ok):
    obj, prog = _program(text)
    v = check_program(obj, prog)
    assert v.accepted == ok, f"{name}: {v.error.message if v.error else 'accepted'}"
    if not ok:
        assert "R0" in v.error.message
    z3 = analyse_program(obj, prog)["models"]["M2"]["safe"]
    assert z3 is not True or ok, f"{name}: the Z3 engine calls a rejected program safe"
    if ok:
        assert z3 is True, f"{name}: the Z3 engine rejects it"
        res = Machine(prog).run()
        assert res.ok and res.r0 == 0, res.fault
    kernel_or_skip()
    from model.kernel import verify

    r = verify(encode(prog.insns), "socket_filter")
    assert r.ok == ok, f"{name}: kernel {r.ok}: {r.log[-300:]}"
