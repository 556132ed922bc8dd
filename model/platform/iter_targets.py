"""BPF iterator targets (Linux 6.18, program type ``tracing`` with expected_attach_type
BPF_TRACE_ITER = 28, section ``iter/TARGET``), as data.

The attach target is the vmlinux FUNC ``bpf_iter_TARGET``; its prototype's arguments are
the context (``struct bpf_iter__TARGET``: 8-byte slots, ``meta`` first). Arguments read as
btf_ctx_access reads any BTF-typed program's (prog_args_trusted: an iterator's struct
pointers are PTR_TRUSTED), except those the target registers in its ``ctx_arg_info``
(bpf_iter_reg_target; kernel/bpf/task_iter.c, map_iter.c, prog_iter.c, link_iter.c,
cgroup_iter.c), which read as exactly the registered type:

* ``btf_or_null``: PTR_TO_BTF_ID | PTR_MAYBE_NULL, with PTR_TRUSTED where the target says
  so (task, bpf_map, cgroup; the running kernel logs ``trusted_ptr_or_null_``) and plain
  elsewhere (task_file, task_vma, bpf_prog, bpf_link: ``ptr_or_null_``);
* ``buf_or_null``: PTR_TO_BUF | PTR_MAYBE_NULL, ``MEM_RDONLY`` for a map element's key.
  Its size is the size of the map the iterator is attached to, unknown at load: the
  verifier allows any constant offset >= 0 (check_buffer_access) and keeps the largest
  end read (``max_rdonly_access`` / ``max_rdwr_access``), which bpf_iter_attach_map checks
  against the map's key and value sizes at link time. skv judges the load only.

The flags of each target's arguments are confirmed on the running kernel
(tests/test_iterators.py reads every slot unchecked and compares the logged type). The
helpers tcp and unix iterators add are :data:`TARGET_HELPERS`; targets not listed (a
kernel module's) are "not modelled".
"""

from __future__ import annotations

#: ctx_arg_info kinds: (kind, trusted/rdonly flag)
BTF_OR_NULL, TRUSTED_OR_NULL = ("btf_or_null", False), ("btf_or_null", True)
BUF_OR_NULL, RDONLY_BUF_OR_NULL = ("buf_or_null", False), ("buf_or_null", True)

#: modelled iterator target -> {argument name: its ctx_arg_info kind}
ITER_TARGETS: dict[str, dict[str, tuple[str, bool]]] = {
    "task": {"task": TRUSTED_OR_NULL},
    "task_file": {"task": BTF_OR_NULL, "file": BTF_OR_NULL},
    "task_vma": {"task": BTF_OR_NULL, "vma": BTF_OR_NULL},
    "bpf_map": {"map": TRUSTED_OR_NULL},
    "bpf_map_elem": {"key": RDONLY_BUF_OR_NULL, "value": BUF_OR_NULL},
    "bpf_prog": {"prog": BTF_OR_NULL},
    "bpf_link": {"link": BTF_OR_NULL},
    "cgroup": {"cgroup": TRUSTED_OR_NULL},
    "kmem_cache": {"s": TRUSTED_OR_NULL},
    "ksym": {"ksym": BTF_OR_NULL},
    "dmabuf": {"dmabuf": BTF_OR_NULL},
    # net/ipv4/tcp_ipv4.c, udp.c, net/unix/af_unix.c, net/netlink/af_netlink.c,
    # net/ipv6/route.c, net/core/sock_map.c, net/core/bpf_sk_storage.c
    "tcp": {"sk_common": TRUSTED_OR_NULL},
    "udp": {"udp_sk": TRUSTED_OR_NULL},
    "unix": {"unix_sk": BTF_OR_NULL},
    "netlink": {"sk": BTF_OR_NULL},
    "ipv6_route": {"rt": BTF_OR_NULL},
    "sockmap": {"key": RDONLY_BUF_OR_NULL, "sk": BTF_OR_NULL},
    "bpf_sk_storage_map": {"sk": BTF_OR_NULL, "value": BUF_OR_NULL},
}
#: helpers a target's own get_func_proto adds (bpf_iter_get_func_proto, asked when the
#: tracing chain has none): bpf_sk_setsockopt / bpf_sk_getsockopt on the iterated socket
#: (their prototype: model.platform.proto_rows.VARIANTS, "tracing")
TARGET_HELPERS = {"tcp": frozenset({"setsockopt", "getsockopt"}),
                  "unix": frozenset({"setsockopt", "getsockopt"})}

#: helpers tracing_prog_func_proto gives iterator programs only
ITER_HELPERS = frozenset({"seq_printf", "seq_write", "seq_printf_btf"})


def target_helpers(section: str) -> frozenset:
    """The helpers the iterator target of ``section`` adds to the tracing chain."""
    return TARGET_HELPERS.get(section.partition("/")[2], frozenset())


def iter_ctx_args(target: str) -> dict[str, tuple[str, bool]] | None:
    """The target's ctx_arg_info by argument name, None for a target not modelled."""
    return ITER_TARGETS.get(target)


__all__ = ["ITER_TARGETS", "ITER_HELPERS", "TARGET_HELPERS", "iter_ctx_args",
           "target_helpers"]
