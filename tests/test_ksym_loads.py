"""``ld_imm64`` of ``__ksym`` externs as libbpf patches them (model.elf.ksyms), shared by
the loader and the kernel wrapper: a symbol with vmlinux BTF stays a BPF_PSEUDO_BTF_ID
load (not modelled by the engines), a typeless one with a kallsyms address becomes that
constant, a missing ``__weak`` one the constant 0, a missing strong one is unresolved.
The patched programs are judged by the running kernel and skv."""

from __future__ import annotations

import pytest

from model.elf.btf import FUNC, VAR
from model.elf.core import target_btf
from model.elf.ksyms import apply_ksyms, kallsyms, resolve_ksym_load
from model.isa import LoadImm64, encode
from model.isa.asm import assemble
from model.kernel import available, verify
from model.program import PSEUDO_BTF_ID, BpfObject, Program
from model.verifier.checker import check_program

KERNEL, WHY = available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"kernel oracle unavailable: {WHY}")
VMLINUX = target_btf()
needs_btf = pytest.mark.skipif(VMLINUX is None, reason="no kernel BTF at /sys/kernel/btf")
LOAD = LoadImm64(1, PSEUDO_BTF_ID, 0, 0)
# bpf_ksym_exists(x) ? 1 : 0, as clang compiles it
TEXT = "r0 = 0\nr1 = 0 ll\nif r1 == 0 goto out\nr0 = 1\nout:\nexit\n"


def _prog(name: str) -> Program:
    prog = Program("p", "socket", assemble(TEXT))
    prog.insns[1] = LOAD
    prog.ksyms = {1: name}
    return prog


def _typeless_symbol() -> str | None:
    return next((n for n in kallsyms() if n.isidentifier()
                 and VMLINUX.find(n, VAR) is None and VMLINUX.find(n, FUNC) is None), None)


def _btf_var():
    return VMLINUX.find("bpf_prog_active", VAR) or VMLINUX.find("jiffies", VAR)


@needs_btf
def test_btf_symbol_stays_a_btf_id_load():
    t = _btf_var()
    assert t is not None
    got = resolve_ksym_load(LOAD, t.name, False, VMLINUX)
    assert (got.src, got.imm) == (PSEUDO_BTF_ID, t.id)


@needs_btf
def test_missing_weak_is_zero_and_missing_strong_unresolved():
    name = "skv_no_such_symbol"
    got = resolve_ksym_load(LOAD, name, True, VMLINUX)
    assert (got.src, got.value) == (0, 0)
    assert resolve_ksym_load(LOAD, name, False, VMLINUX) is None


@needs_btf
def test_typeless_symbol_is_its_kallsyms_address():
    name = _typeless_symbol()
    if name is None:
        pytest.skip("/proc/kallsyms names no symbol without BTF here")
    got = resolve_ksym_load(LOAD, name, False, VMLINUX)
    assert got.src == 0 and got.value == kallsyms()[name]


@needs_kernel
@needs_btf
@pytest.mark.parametrize("how", ["weak_missing", "typeless", "btf_func"])
def test_patched_program_against_kernel(how):
    name = {"weak_missing": "skv_no_such_symbol", "typeless": _typeless_symbol(),
            # a FUNC (bpf_ksym_exists of a kfunc): without CONFIG_KALLSYMS_ALL the kernel
            # cannot give a variable's address
            "btf_func": "bpf_fentry_test1"}[how]
    if name is None:
        pytest.skip("/proc/kallsyms names no symbol without BTF here")
    prog = _prog(name)
    apply_ksyms(prog, frozenset({"skv_no_such_symbol"}), VMLINUX)
    v = check_program(BpfObject("inline", "GPL", {}, [prog]), prog)
    # the kernel gets what libbpf loads: a typed symbol's BTF id too
    insns = list(prog.insns)
    insns[1] = resolve_ksym_load(insns[1], name, how == "weak_missing", VMLINUX)
    res = verify(encode(insns), "socket_filter")
    assert res.ok, res.log
    assert v.accepted, v.error  # a FUNC's address: modelled by the abstract verifier


#: uses of a kernel FUNC's address (PTR_TO_MEM | MEM_RDONLY, size 0) after the load
FUNC_USES = {
    "exists_ok": "if r1 == 0 goto out\nr0 = 1\nout:\nexit\n",
    "read": "r0 = *(u8 *)(r1 + 0)\nr0 = 0\nexit\n",
    "write": "r2 = 0\n*(u8 *)(r1 + 0) = r2\nr0 = 0\nexit\n",
    "moved_read": "r1 += 8\nr0 = *(u8 *)(r1 + 0)\nr0 = 0\nexit\n",
    "spilled_ok": "*(u64 *)(r10 - 8) = r1\nr1 = *(u64 *)(r10 - 8)\nr0 = 0\nexit\n",
    "returned_ok": "r0 = r1\nexit\n",
    "returned_xdp_ok": "r0 = r1\nexit\n",
    "as_size": "r2 = r1\nr1 = r10\nr1 += -8\nr3 = 0\ncall 113\nr0 = 0\nexit\n",
}


@needs_kernel
@needs_btf
@pytest.mark.parametrize("use", sorted(FUNC_USES))
def test_kernel_function_address_uses_against_kernel(use):
    """``r1 = &bpf_fentry_test1`` (a vmlinux FUNC), then one use: the abstract verifier
    gives the kernel's verdict (it never accepts what the kernel refuses)."""
    ptype = "xdp" if "_xdp" in use else "socket_filter"
    insns = [LoadImm64(0, 0, 0, 0)] + assemble("r0 = 0\n" + FUNC_USES[use])[0:]
    insns[0] = resolve_ksym_load(LoadImm64(1, PSEUDO_BTF_ID, 0, 0), "bpf_fentry_test1",
                                 False, VMLINUX)
    res = verify(encode(insns), ptype)
    prog = Program("p", "xdp" if ptype == "xdp" else "socket", insns)
    v = check_program(BpfObject("inline", "GPL", {}, [prog]), prog)
    where = f"{use}: kernel {res.ok} {res.log.strip().splitlines()[-3:]}; ours {v.error}"
    if not res.ok:
        assert not v.accepted, "FALSE ACCEPT " + where
    else:
        assert v.accepted, "false reject " + where
    assert use.endswith("_ok") == res.ok, where
