"""x86-64 static-branch sites: encodings, canonical NOPs, toggles, and small test images.

A pokeable site is one instruction of 2 or 5 bytes with the same size in both states
(docs: /work/shared/reference/x86-poking.md):

- 2 bytes: on = ``EB rel8``,  off = ``66 90`` (``x86_nops[2]``);
- 5 bytes: on = ``E9 rel32``, off = ``0f 1f 44 00 00`` (``x86_nops[5]``).

A *toggle* of one site is the pair (old bytes, new bytes). ``build_image`` lays out one block
per site (``mov eax, 1; <site>; mov eax, 2; ret; target: mov eax, 3; ret``) so running a
block from its entry returns 2 when the site falls through and 3 when it jumps; the jump
target is inside the image. Each block is 192 bytes, the site at ``64 + offset`` where
``offset`` (0..63) is the site's position inside its 64-byte line: the races depend on how
a site straddles aligned fetch chunks, so the placement is a parameter (Z3 chooses it).
"""

from __future__ import annotations

from dataclasses import dataclass

NOP2 = bytes.fromhex("6690")
NOP5 = bytes.fromhex("0f1f440000")
NOPS = {2: NOP2, 5: NOP5}
INT3 = 0xCC

BLOCK = 192           # bytes per site block in a test image
LINE = 64             # the largest fetch chunk; a site's offset is taken modulo this
MOV_EAX = 0xB8        # mov eax, imm32 (5 bytes)
RET = 0xC3
EAX_OFF, EAX_ON = 2, 3  # what a block returns when its site falls through / jumps


def mov_eax(v: int) -> bytes:
    return bytes([MOV_EAX]) + v.to_bytes(4, "little")


def jump_bytes(addr: int, size: int, target: int) -> bytes:
    """``EB rel8`` (size 2) or ``E9 rel32`` (size 5) at ``addr`` jumping to ``target``."""
    rel = target - (addr + size)
    if size == 2:
        if not -128 <= rel <= 127:
            raise ValueError(f"rel8 out of range: {rel}")
        return bytes([0xEB, rel & 0xFF])
    if size == 5:
        return bytes([0xE9]) + (rel & 0xFFFFFFFF).to_bytes(4, "little")
    raise ValueError(f"site size must be 2 or 5, not {size}")


def site_bytes(addr: int, size: int, target: int, on: bool) -> bytes:
    return jump_bytes(addr, size, target) if on else NOPS[size]


@dataclass(frozen=True)
class Site:
    """One site at image offset ``addr``: ``size`` bytes, jumping to ``target`` when on."""
    addr: int
    size: int
    target: int

    def bytes_for(self, on: bool) -> bytes:
        return site_bytes(self.addr, self.size, self.target, on)

    @property
    def fallthrough(self) -> int:
        return self.addr + self.size

    def destination(self, on: bool) -> int:
        return self.target if on else self.fallthrough

    def state_of(self, b: bytes) -> bool | None:
        """True/False when ``b`` is exactly the on/off encoding, else None."""
        if b == self.bytes_for(True):
            return True
        if b == self.bytes_for(False):
            return False
        return None


@dataclass(frozen=True)
class Toggle:
    """A site and the direction of its toggle: old bytes -> new bytes."""
    site: Site
    to_on: bool

    @property
    def old(self) -> bytes:
        return self.site.bytes_for(not self.to_on)

    @property
    def new(self) -> bytes:
        return self.site.bytes_for(self.to_on)


# Site kinds of the race model: (size, direction). Named by what the toggle does.
KINDS = {
    "nop2->jmp8": (2, True),
    "jmp8->nop2": (2, False),
    "nop5->jmp32": (5, True),
    "jmp32->nop5": (5, False),
}


def block_site(index: int, size: int, offset: int) -> Site:
    """The site of block ``index`` at line offset ``offset`` (0..63)."""
    if not 0 <= offset < LINE:
        raise ValueError(f"site offset must be in 0..63, not {offset}")
    addr = index * BLOCK + LINE + offset
    # mov eax, 2; ret (6 bytes) after the site, then the target
    return Site(addr, size, addr + size + 6)


def block_entry(site: Site) -> int:
    return site.addr - 5


def build_image(sites: list[Site], states: list[bool]) -> bytes:
    """A code image with one block per site (see the module doc), each site in ``states``."""
    n = max((s.addr // BLOCK for s in sites), default=-1) + 1
    img = bytearray(b"\x90" * (n * BLOCK))  # nop filler; never executed
    for s, on in zip(sites, states):
        e = block_entry(s)
        img[e:e + 5] = mov_eax(1)
        img[s.addr:s.addr + s.size] = s.bytes_for(on)
        f = s.fallthrough
        img[f:f + 6] = mov_eax(EAX_OFF) + bytes([RET])
        img[s.target:s.target + 6] = mov_eax(EAX_ON) + bytes([RET])
    return bytes(img)
