"""``skv replay FILE``: run a poke-race counterexample (written by ``proofs/poke_race.py``)
on the unicorn executor (``model.x86.executor``): print every writer step and fetch with its
outcome, then whether the file's expected violation reproduced.

Files: ``skv-poke-schedule/1`` (a writer, site placement, fetch model and per-chunk fetch
times) or ``skv-key-schedule/1`` (toggler interleaving; sites must end in different states).
``--minimise`` drops fetches and writer events while the violation still reproduces and
prints the smaller schedule (``-o`` writes it). Exit status 0 when the replay confirms the
file's expectation, 1 when it does not, 2 on bad input.
"""

from __future__ import annotations

from model.errors import SkvError
from model.inputs import read_json_object, show, validate, write_json


def add_arguments(p) -> None:
    p.add_argument("file", metavar="FILE", help="counterexample JSON schedule")
    p.add_argument("--minimise", action="store_true", help="shrink a confirmed counterexample")
    p.add_argument("-o", "--output", metavar="OUT", help="write the minimised schedule here")


def _load(path: str, d: dict):
    from model.x86 import fetch, race

    kind = race if d.get("format") == "skv-key-schedule/1" else fetch
    validate(d, kind.SCHEMA, show(path))
    try:
        if kind is race:
            return race.KeySchedule.from_json(d)
        return fetch.Schedule.from_json(d)
    except (KeyError, TypeError, ValueError) as e:
        raise SkvError(f"{show(path)}: bad schedule: {show(e)}") from None


def run(args) -> int:
    from model.x86 import executor as X
    from model.x86.fetch import PROPERTY_TEXT, Schedule

    d = read_json_object(args.file, "a schedule object")
    if d.get("format") == "skv-e2e/1":
        # a saved end-to-end counterexample (skv e2e --save / skv check --x86): replay it
        from argparse import Namespace

        from model.commands import e2e

        return e2e.run(Namespace(replay=args.file, object=None, json=False))
    sc = _load(args.file, d)
    if not isinstance(sc, Schedule):
        try:
            r = X.replay_key(sc)
        except ValueError as e:
            raise SkvError(f"{args.file}: {e}") from None
        print(f"key scenario {sc.scenario.name}: {len(sc.scenario.togglers)} toggler(s), "
              f"{sc.scenario.n_sites} sites")
        print("\n".join(r.lines))
        exp = sc.expect.get("final")
        ok = r.confirmed and (exp is None or exp == r.states)
        print(f"outcome: sites {r.states} -> {'CONFIRMED' if ok else 'NOT REPRODUCED'}: "
              "sites of one key disagree after every toggler returned")
        return 0 if ok else 1
    try:
        r = X.replay(sc)
    except ValueError as e:
        raise SkvError(f"{args.file}: {e}") from None
    print(f"{sc.protocol} on {sc.kind} sites at line offsets {sc.offsets}, fetch model "
          f"{sc.model.name}, {len(sc.fetches)} fetches")
    print("\n".join(r.lines))
    want = sc.expect.get("outcomes")
    if want is not None and want != r.outcomes:
        print(f"note: predicted outcomes {want}, executed {r.outcomes}")
    text = PROPERTY_TEXT.get(sc.prop, sc.prop or "(no property)")
    print(f"outcome: {sc.prop}: {text} -> "
          f"{'CONFIRMED' if r.confirmed else 'NOT REPRODUCED'}"
          + (f" (fetches {r.violations[sc.prop]})" if r.confirmed else ""))
    if r.confirmed and args.minimise:
        m = X.minimise(sc)
        print(f"minimised: {len(sc.fetches)} -> {len(m.fetches)} fetches, "
              f"{len(sc.events)} -> {len(m.events)} writer events")
        print("\n".join(X.replay(m).lines))
        if args.output:
            write_json(args.output, m.to_json())
    return 0 if r.confirmed else 1
