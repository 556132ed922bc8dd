"""bpfprogs/static_keys.h composes with the headers BPF programs are usually written with:
``<linux/bpf.h>`` or a ``vmlinux.h``, then libbpf's ``<bpf/bpf_helpers.h>``. A program built
that way loads in skv with its static sites, and skv's answers on it match the same program
built with the self-contained bpf_static_keys.h."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BPFPROGS, CLANG

LIBBPF = Path("/usr/include/bpf/bpf_helpers.h")
BPFTOOL = shutil.which("bpftool")

pytestmark = [
    pytest.mark.skipif(CLANG is None, reason="clang-19 is not installed"),
    pytest.mark.skipif(not LIBBPF.exists(),
                       reason="libbpf headers are not installed (Debian: libbpf-dev)"),
]

BODY = r"""
DEFINE_STATIC_KEY(debug_key);
DEFINE_STATIC_KEY(drop_key);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} counts SEC(".maps");

SEC("xdp")
int filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 k = 0;
	__u64 *c;

	if (bpf_static_branch_unlikely(&debug_key)) {
		c = bpf_map_lookup_elem(&counts, &k);
		if (c)
			__sync_fetch_and_add(c, 1);
	}
	if (data + 14 > end)
		return XDP_PASS;
	if (bpf_static_branch_likely(&drop_key))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""

UAPI = '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n#include "static_keys.h"\n'
VMLINUX = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include "static_keys.h"\n'


def _build(tmp_path: Path, prelude: str, name: str) -> str:
    src = tmp_path / f"{name}.c"
    obj = tmp_path / f"{name}.o"
    src.write_text(prelude + BODY)
    r = subprocess.run([CLANG, "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-I", str(BPFPROGS),
                        "-I", str(tmp_path), "-I", "/usr/include/x86_64-linux-gnu", "-c",
                        str(src), "-o", str(obj)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return str(obj)


def _answers(path: str) -> tuple:
    from model.elf.loader import load_object
    from model.symbolic import analyse_program

    obj = load_object(path)
    prog = obj.program("filter")
    doc = analyse_program(obj, prog)
    sites = sorted((s.key, s.inverse) for s in prog.sites)
    return sites, {m: doc["models"][m]["safe"] for m in ("M0", "M1", "M2")}


def test_libbpf_style_program_with_uapi_headers(tmp_path):
    path = _build(tmp_path, UAPI, "uapi")
    sites, models = _answers(path)
    assert sites == [("debug_key", False), ("drop_key", True)]
    assert models == {"M0": True, "M1": True, "M2": True}


@pytest.mark.skipif(BPFTOOL is None, reason="bpftool is not installed (Debian: bpftool)")
def test_libbpf_style_program_with_vmlinux_h(tmp_path):
    btf = Path("/sys/kernel/btf/vmlinux")
    if not btf.exists():
        pytest.skip("no /sys/kernel/btf/vmlinux to generate vmlinux.h from")
    r = subprocess.run([BPFTOOL, "btf", "dump", "file", str(btf), "format", "c"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (tmp_path / "vmlinux.h").write_text(r.stdout)
    path = _build(tmp_path, VMLINUX, "vml")
    assert _answers(path) == _answers(_build(tmp_path, UAPI, "uapi"))
