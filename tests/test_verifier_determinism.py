"""The abstract verifier's exploration is a function of the program alone: the processed
instruction count of every program of an object is the same in a fresh process and in
one that checked other objects first, and under other string hash seeds (nothing the
exploration orders may come from iterating a hash-ordered set of strings, from object
identities, or from a memo another program filled)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import BPFPROGS, ROOT

TARGET = BPFPROGS / "datapath" / "datapath.o"

_CHILD = r'''
import json, sys
from model.commands.common import load
from model.verifier.checker import check_program
first, target = json.loads(sys.argv[1])
for path in first:
    obj = load(path)
    for prog in obj.programs:
        check_program(obj, prog, log=False)
obj = load(target)
out = {}
for prog in obj.programs:
    v = check_program(obj, prog, log=False)
    out[prog.name] = [v.verdict, v.stats.insns_processed, v.stats.states]
print(json.dumps(out))
'''


def _counts(seed: str, first: list[str], pure: bool = False) -> dict:
    env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
    env.pop("SKV_PURE", None)
    if pure:
        env["SKV_PURE"] = "1"
    p = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([first, str(TARGET)])],
                       env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def test_counts_do_not_depend_on_what_ran_before_or_the_hash_seed():
    others = [str(p) for p in sorted(BPFPROGS.glob("*.o"))] + \
        [str(BPFPROGS / "datapath" / "unsafe_datapath.o")]
    alone = _counts("0", [])
    assert len(alone) >= 5 and all(v[1] > 0 for v in alone.values()), alone
    assert _counts("1", others) == alone
    assert _counts("2", others[::-1], pure=True) == alone
