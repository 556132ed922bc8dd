"""Programs of our own in the shape of real code that skv once judged unlike the kernel
(Cilium's datapath, Linux's samples/bpf): each is checked against the running kernel,
loaded as libbpf loads it (model.kernel.objload), and skv must never accept what the
kernel refuses.

* LD_ABS/LD_IND in a static subprogram of an object with BTF (samples/bpf sockex2's
  ``parse_ipv6``): allowed when the subprogram returns an int (check_btf_func), and a
  failed load is a hidden ``r0 = 0; exit`` out of the subprogram (check_ld_abs), which
  the caller must survive;
* an object without a license section is loaded with an empty license (libbpf's), so a
  GPL-only helper is refused (samples/bpf xdp_sample.bpf.c on its own).
"""

from __future__ import annotations

import subprocess

import pytest

from conftest import CLANG, PRELUDE, kernel_or_skip
from model.elf.loader import load_object
from model.verifier.checker import check_program

LD_ABS = r"""
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
struct __sk_buff { __u32 len; };
"""

SHAPES = {
    # sockex2: the header parser is a static function returning int
    "int_subprog": (r"""
static __attribute__((noinline)) int parse(struct __sk_buff *skb, __u64 off)
{
    return load_byte(skb, off + 9) + load_half(skb, off + 2);
}
SEC("socket") int prog(struct __sk_buff *skb) { return parse(skb, 14) > 6 ? 0 : -1; }
""", None),
    # the same parser written as a void function: refused whatever it does
    "void_subprog": (r"""
__u32 seen;
static __attribute__((noinline)) void parse(struct __sk_buff *skb, __u64 off)
{
    seen = load_byte(skb, off + 9);
}
SEC("socket") int prog(struct __sk_buff *skb) { parse(skb, 14); return seen; }
""", "LD_ABS is only allowed in functions that return 'int'."),
    # the caller trusts the parser's normal return (1..8) to index a stack buffer: the
    # hidden exit returns 0, and buf[-1] is out of bounds
    "hidden_exit_unsafe": (r"""
static __attribute__((noinline)) int nibble(struct __sk_buff *skb)
{
    return (load_byte(skb, 23) & 7) + 1;
}
SEC("socket") int prog(struct __sk_buff *skb)
{
    volatile unsigned char buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int i = nibble(skb) - 1;
    return buf[i];
}
""", "math between fp pointer"),
}


def _build(tmp_path, name: str, source: str, prelude: str = PRELUDE) -> str:
    if CLANG is None:
        pytest.skip("clang-19 is not installed (make test installs it with apt-get)")
    src, obj = tmp_path / f"{name}.c", tmp_path / f"{name}.o"
    src.write_text(prelude + source)
    r = subprocess.run([CLANG, "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-c", str(src),
                        "-o", str(obj)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return str(obj)


def _both(path: str):
    """(skv's verdict, the kernel's) for the object's only program."""
    from model.kernel.objload import load_program

    obj = load_object(path)
    prog = obj.programs[0]
    v = check_program(obj, prog)
    res = load_program(obj, prog, log_level=1)
    res.close()
    return v, res


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_ld_abs_in_subprograms(tmp_path, name):
    kernel_or_skip()
    source, message = SHAPES[name]
    v, res = _both(_build(tmp_path, name, LD_ABS + source))
    assert not (v.accepted and not res.ok), f"skv accepts what the kernel refuses:\n{res.log}"
    if message is None:
        assert v.accepted and res.ok, (v.error, res.log)
    else:
        assert not v.accepted and message in v.error.message
        assert not res.ok and message in res.log


def test_ld_abs_hidden_exit_in_the_interpreter(tmp_path):
    """Out of bounds in the subprogram returns 0 to the caller, which goes on."""
    from model.interp.machine import Machine

    source = LD_ABS + r"""
static __attribute__((noinline)) int first(struct __sk_buff *skb)
{
    return load_byte(skb, 1000) + 1;
}
SEC("socket") int prog(struct __sk_buff *skb) { return first(skb) + 40; }
"""
    obj = load_object(_build(tmp_path, "interp", source))
    r = Machine(obj.programs[0], obj.maps).run(packet=bytes(64))
    assert (r.status, r.r0) == ("exit", 40)


NO_LICENSE = r"""
typedef unsigned long long __u64;
#define SEC(n) __attribute__((section(n), used))
static long (*bpf_probe_read_kernel)(void *dst, unsigned int size, const void *src) =
    (void *)113;
SEC("kprobe/do_unlinkat") int prog(void *ctx)
{
    __u64 v = 0;
    bpf_probe_read_kernel(&v, sizeof(v), ctx);
    return v != 0;
}
"""


def test_no_license_section_is_not_gpl(tmp_path):
    kernel_or_skip()
    v, res = _both(_build(tmp_path, "nolicense", NO_LICENSE, prelude=""))
    assert not v.accepted and "GPL" in v.error.message
    assert not res.ok and "GPL" in res.log
