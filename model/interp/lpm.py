"""Longest-prefix-match keys (BPF_MAP_TYPE_LPM_TRIE, kernel/bpf/lpm_trie.c) for the
interpreter's maps: a key is a u32 ``prefixlen`` (host order) then ``key_size - 4`` data
bytes, whose bits count from the most significant bit of the first byte. An element is
its prefix: two keys with the same ``prefixlen`` and the same first ``prefixlen`` bits are
the same element. A lookup finds the element with the longest prefix (at most the key's
``prefixlen``) that the key's data starts with; a ``prefixlen`` past the data's bits finds
nothing, and an update or delete with one is -EINVAL."""

from __future__ import annotations


def max_prefixlen(key_size: int) -> int:
    return (key_size - 4) * 8


def prefixlen(key: bytes) -> int:
    return int.from_bytes(key[:4], "little")


def _bits(data: bytes, n: int) -> int:
    """The first ``n`` bits of ``data`` as an integer."""
    return int.from_bytes(data, "big") >> (len(data) * 8 - n)


def canonical(key: bytes) -> bytes | None:
    """The element a key names (its bits past the prefix cleared), or None when its
    prefixlen is past the data's bits."""
    plen, data = prefixlen(key), key[4:]
    if plen > len(data) * 8:
        return None
    width = len(data) * 8
    kept = (_bits(data, plen) << (width - plen)) if plen else 0
    return key[:4] + kept.to_bytes(len(data), "big")


def longest_match(key: bytes, stored) -> bytes | None:
    """Of the ``stored`` canonical keys, the one a lookup with ``key`` finds, or None."""
    plen, data = prefixlen(key), key[4:]
    if plen > len(data) * 8:
        return None
    best = None
    for k in stored:
        p = prefixlen(k)
        if p <= plen and (best is None or p > prefixlen(best)) and \
                _bits(k[4:], p) == _bits(data, p):
            best = k
    return best
