"""The format strings the kernel's printf-like helpers accept (Linux 6.18
bpf_bprintf_prepare, kernel/bpf/helpers.c, as the verifier runs it for bpf_snprintf's
constant format: no argument copying, only the validation).

Every ASCII byte before the NUL is printable or white space (the running kernel takes any
byte from 0x80 on; after ``%s`` and ``%p`` its Latin-1 ctype table decides what white space
and punctuation are). ``%%`` is a literal percent;
any other ``%`` is one conversion and needs one more u64 of data (data_len / 8 of them):
optional flags ``0 + - space``, an optional width (a digit 1-9 then digits), then one of
``%p`` (alone or followed by NUL, white space, punctuation, ``K x s S``: a pointer;
``%pB``; ``%pks`` / ``%pus`` followed by NUL, white space or punctuation; ``%pi4 %pI4 %pi6
%pI6``), ``%s`` (followed by NUL, white space or punctuation), ``%c``, or ``[l[l]]`` and
one of ``i d u x X``.
"""

from __future__ import annotations

import string

#: the kernel's ctype table (lib/ctype.c, Latin-1): punctuation and white space
_PUNCT = frozenset(string.punctuation.encode()) | frozenset(range(0xA1, 0xC0)) | {0xD7, 0xF7}
_SPACE = frozenset(b" \t\n\v\f\r\xa0")


def _space(c: int) -> bool:
    return c in _SPACE


def bprintf_valid(fmt: bytes, num_args: int) -> bool:
    """Whether ``fmt`` (the bytes before its NUL) passes with ``num_args`` arguments."""
    n = len(fmt)

    def at(j: int) -> int:
        return fmt[j] if j < n else 0

    i = num_spec = 0
    while i < n:
        c = fmt[i]
        if c < 0x80 and not (0x20 <= c < 0x7F or _space(c)):
            return False
        if c != ord("%"):
            i += 1
            continue
        if at(i + 1) == ord("%"):
            i += 2
            continue
        if num_spec >= num_args:
            return False
        i += 1
        while at(i) in b"0+- ":
            i += 1
        if ord("1") <= at(i) <= ord("9"):
            i += 1
            while ord("0") <= at(i) <= ord("9"):
                i += 1
        c = at(i)
        string_follows = False
        if c == ord("p"):
            nxt = at(i + 1)
            if nxt in b"ku" and at(i + 2) == ord("s"):
                i += 2
                string_follows = True
            elif nxt == 0 or _space(nxt) or nxt in _PUNCT or nxt in b"KxsSB":
                i += 1  # a plain pointer (or %pB): the next byte is skipped unchecked
            elif nxt in b"iI" and at(i + 2) in b"46":
                i += 2
            else:
                return False
        elif c == ord("s"):
            string_follows = True
        elif c != ord("c"):
            if at(i) == ord("l"):
                i += 1
            if at(i) == ord("l"):
                i += 1
            if at(i) not in b"iduxX":
                return False
        if string_follows:
            nxt = at(i + 1)
            if nxt != 0 and not _space(nxt) and nxt not in _PUNCT:
                return False
        num_spec += 1
        i += 1
    return True
