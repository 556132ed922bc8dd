"""Reads of symbolic memory resolved when the term is built: ``Select(Store(a, j, v), i)``
is ``v`` when ``i = j`` is certain and ``Select(a, i)`` when ``i != j`` is (the same base
plus different constants, or two numerals); a read of a merged array ``If(g, a, b)`` is
``If(g, read a, read b)``; a read of a constant array is its value. Each step is an
identity of the theory of arrays, so the resolved term equals the read exactly; it only
keeps the long chains of stores (stack, packet, map writes) out of the queries, where Z3
would otherwise reason about every store for every read.
"""

from __future__ import annotations

import z3

#: stores walked past per read at most (then the read is left to Z3)
STORES_WALKED = 512


_PARTS: dict[int, tuple] = {}  # ast id -> (the term, base ids, constant)


def _parts(i) -> tuple:
    """``i`` (simplified) as (base, constant): a numeral is ((), c); ``c + x + ...``
    is (ids of x..., c); anything else (id of i, 0)."""
    got = _PARTS.get(i.get_id())
    if got is not None:
        return got[1], got[2]
    e = z3.simplify(i)
    if z3.is_bv_value(e):
        base, c = (), e.as_long()
    elif z3.is_app_of(e, z3.Z3_OP_BADD) and z3.is_bv_value(e.arg(0)):
        base, c = tuple(e.arg(k).get_id() for k in range(1, e.num_args())), e.arg(0).as_long()
    else:
        base, c = (e.get_id(),), 0
    _PARTS[i.get_id()] = (i, base, c)
    _PARTS[e.get_id()] = (e, base, c)
    return base, c


def _same(i, j) -> bool | None:
    """Is ``i = j`` certain (True), ``i != j`` certain (False), or not known (None)?"""
    if i.eq(j):
        return True
    bi, ci = _parts(i)
    bj, cj = _parts(j)
    if bi == bj:
        return ci == cj
    return None


def select(arr, idx):
    """``Select(arr, idx)``, resolved through stores, merges and constant arrays."""
    return _select(arr, idx, {})


_NODES: dict[int, tuple] = {}  # array ast id -> (the term, kind, its arguments)


def _node(arr) -> tuple:
    got = _NODES.get(arr.get_id())
    if got is None:
        k = arr.decl().kind() if z3.is_app(arr) else None
        args = tuple(arr.children()) if k in (z3.Z3_OP_STORE, z3.Z3_OP_ITE,
                                               z3.Z3_OP_CONST_ARRAY) else ()
        got = _NODES[arr.get_id()] = (arr, k, args)
    return got


def clear() -> None:
    """Forget the terms decoded so far (a new program's analysis starts)."""
    _PARTS.clear()
    _NODES.clear()


def _select(arr, idx, memo: dict):
    key = arr.get_id()
    got = memo.get(key)
    if got is not None:
        return got[1]
    start = arr
    for _ in range(STORES_WALKED):
        _, k, args = _node(arr)
        if k == z3.Z3_OP_STORE:
            same = _same(idx, args[1])
            if same is None:
                break
            if same:
                out = args[2]
                memo[key] = (start, out)
                return out
            arr = args[0]
        elif k == z3.Z3_OP_ITE:
            a, b = _select(args[1], idx, memo), _select(args[2], idx, memo)
            out = a if a.eq(b) else z3.If(args[0], a, b)
            memo[key] = (start, out)
            return out
        elif k == z3.Z3_OP_CONST_ARRAY:
            out = args[0]
            memo[key] = (start, out)
            return out
        else:
            break
    out = z3.Select(arr, idx)
    memo[key] = (start, out)
    return out


__all__ = ["select", "clear", "STORES_WALKED"]
