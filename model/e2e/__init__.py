"""End to end (issue 7): a BPF counterexample replayed on the JIT'd x86 code.

``machine``: CPU 0 runs our JIT's image of a program (design ``fixed``) on unicorn, one
instruction at a time, with ctx/packet/map memory mapped as the JIT'd code expects, helper
calls served by the interpreter's helper models, poison in every uninitialised register and
stack byte, and a writer (CPU 1) applying the int3 protocol's events at given instruction
boundaries of CPU 0. ``confirm``: schedules derived from M1/M2 counterexamples (chosen by
Z3, ``schedule_z3``), their confirmation, and random toggle schedules for safe programs.
"""

from model.e2e.confirm import confirm, derive, random_schedules
from model.e2e.machine import X86Machine, X86Result

__all__ = ["X86Machine", "X86Result", "confirm", "derive", "random_schedules"]
