"""Attach targets of BTF-typed programs (Linux 6.18): fentry / fexit / fmod_ret / tp_btf /
iter (program type ``tracing``) and lsm. Their context is the target's arguments as u64 slots,
typed by the running kernel's BTF (/sys/kernel/btf/vmlinux).

The section names the target (libbpf's convention): ``fentry/do_unlinkat`` -> the FUNC
``do_unlinkat``; ``tp_btf/sched_switch`` -> the TYPEDEF ``btf_trace_sched_switch`` whose
prototype's first argument (``void *__data``) is not part of the context; ``lsm/file_open``
-> the FUNC ``bpf_lsm_file_open``; ``iter/task`` -> the FUNC ``bpf_iter_task``, for the
targets of model.platform.iter_targets. :func:`attach_target` answers a :class:`Target` or
raises ``NotModelled`` (no vmlinux BTF, a module target, an iterator target not modelled, a
section without a target).

Kernel facts kept here as data:

* which arguments are trusted (prog_args_trusted): tp_btf's and lsm's, except the lsm hooks
  of ``UNTRUSTED_LSM_HOOKS`` (objects being set up or torn down); fentry/fexit/fmod_ret
  arguments are plain (untrusted-walking) PTR_TO_BTF_ID.
* ``RAW_TP_NULL_ARGS`` (btf.c's raw_tp_null_args): per tracepoint, a mask with 4 bits per
  argument: 0x1 the argument may be NULL (PTR_MAYBE_NULL), 0x2 it may be an ERR_PTR (the
  verifier makes it a scalar).
* fmod_ret targets: only ``MODIFIABLE_PREFIXES`` are modelled (the kernel also takes its
  run-time error-injection list, which skv cannot read).
* lsm return ranges (bpf_lsm_get_retval_range): [0, 1] for ``BOOL_LSM_HOOKS``, [-MAX_ERRNO,
  0] for every other int hook, unconstrained for void hooks; checked on r0's 32-bit bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.elf import btf as B
from model.elf.core import VMLINUX_BTF, target_btf
from model.errors import NotModelled
from model.platform.iter_targets import iter_ctx_args

MAX_ERRNO = 4095

#: enum bpf_attach_type values of the BTF-typed programs
BPF_TRACE_RAW_TP, BPF_TRACE_FENTRY, BPF_TRACE_FEXIT, BPF_MODIFY_RETURN = 23, 24, 25, 26
BPF_LSM_MAC, BPF_TRACE_ITER, BPF_LSM_CGROUP = 27, 28, 43
#: the attach types whose targets are modelled, by program type
MODELLED_ATTACH = {"tracing": (BPF_TRACE_RAW_TP, BPF_TRACE_FENTRY, BPF_TRACE_FEXIT,
                               BPF_MODIFY_RETURN, BPF_TRACE_ITER),
                   "lsm": (BPF_LSM_MAC,)}

#: fmod_ret targets known modifiable (check_attach_modify_return: security_* hooks; the
#: syscall entry points are on the error-injection list)
MODIFIABLE_PREFIXES = ("security_", "__x64_sys_")

UNTRUSTED_LSM_HOOKS = frozenset({
    "bpf_map_free", "bpf_prog_free", "file_alloc_security", "file_free_security",
    "sk_alloc_security", "sk_free_security", "task_free", "bdev_alloc_security",
    "bdev_free_security"})
#: bpf_lsm_disabled_hooks: hooks a BPF program may not attach to
DISABLED_LSM_HOOKS = frozenset({
    "vm_enough_memory", "inode_need_killpriv", "inode_getsecurity", "inode_listsecurity",
    "inode_copy_up_xattr", "getselfattr", "getprocattr", "setprocattr", "key_getsecurity",
    "audit_rule_match", "ismaclabel"})
BOOL_LSM_HOOKS = frozenset({"audit_rule_known", "inode_xattr_skipcap"})

# btf.c raw_tp_null_args, "name:mask" (mask in hex)
_NULL_ARGS = """
sched_pi_setprio:10 sched_stick_numa:100 sched_swap_numa:100 afs_make_fs_call:10
afs_make_fs_calli:10 afs_make_fs_call1:10 afs_make_fs_call2:10 afs_protocol_error:1
afs_flock_ev:10 cachefiles_lookup:201 cachefiles_unlink:1 cachefiles_rename:1
cachefiles_prep_read:1 cachefiles_mark_active:1 cachefiles_mark_failed:1
cachefiles_mark_inactive:1 cachefiles_vfs_error:1 cachefiles_io_error:1
cachefiles_ondemand_open:1 cachefiles_ondemand_copen:1 cachefiles_ondemand_close:1
cachefiles_ondemand_read:1 cachefiles_ondemand_cread:1 cachefiles_ondemand_fd_write:1
cachefiles_ondemand_fd_release:1 ext4_mballoc_discard:10 ext4_mballoc_free:10
fib_table_lookup:100 posix_lock_inode:10 fcntl_setlk:10 locks_remove_posix:10
flock_lock_inode:10 break_lease_noblock:10 break_lease_block:10 break_lease_unblock:10
generic_delete_lease:10 time_out_leases:10 host1x_cdma_push_gather:10000
mm_khugepaged_scan_pmd:10 mm_collapse_huge_page_isolate:1 mm_khugepaged_scan_file:10
mm_khugepaged_collapse_file:10 mm_page_alloc:1 mm_page_pcpu_drain:1
mm_page_alloc_zone_locked:1 netfs_failure:10 device_pm_callback_start:10
qdisc_dequeue:1000 rxrpc_recvdata:1 rxrpc_resend:10 rxrpc_tq:10 rxrpc_client:1
kfree_skb:1000 xs_stream_read_data:1 xprt_reserve_cong:10 xprt_release_cong:10
xprt_get_cong:10 xprt_put_cong:10 tcp_send_reset:11 tcp_sendmsg_locked:100
tegra_dma_tx_status:100 tmigr_update_events:1 writeback_dirty_folio:10
folio_wait_writeback:10 mr_integ_alloc:2000 bpf_testmod_test_read:0 amdgpu_vm_bo_map:1
amdgpu_vm_bo_unmap:1 netfs_folioq:1 xfs_defer_create_intent:1 xfs_defer_cancel_list:1
xfs_defer_pending_finish:1 xfs_defer_pending_abort:1 xfs_defer_relog_intent:1
xfs_defer_isolate_paused:1 xfs_defer_item_pause:1 xfs_defer_item_unpause:1
xfs_defer_add_item:1 xfs_defer_cancel_item:1 xfs_defer_finish_item:1
xfs_ioc_free_eofblocks:10 xfs_blockgc_free_space:10 xfs_btree_updkeys:100
xfs_btree_overlapped_query_range:100 xfs_map_blocks_found:10000
xfs_map_blocks_alloc:10000 xfs_iomap_alloc:1000 xfs_iomap_found:1000 xfs_inodegc_flush:1
xfs_inodegc_push:1 xfs_inodegc_start:1 xfs_inodegc_stop:1 xfs_inodegc_queue:1
xfs_inodegc_throttle:1 xfs_fs_sync_fs:1 xfs_blockgc_start:1 xfs_blockgc_stop:1
xfs_blockgc_worker:1 xfs_blockgc_flush_all:1 xchk_nlinks_live_update:10
xchk_metapath_lookup:100 nfsd_dirent:1 nfsd_file_acquire:1001 nfsd_file_insert_err:1
nfsd_file_cons_err:1 nfs4_setup_sequence:1 pnfs_update_layout:10000
nfs4_inode_callback_event:200 nfs4_inode_stateid_callback_event:200
pnfs_mds_fallback_pg_init_read:10000 pnfs_mds_fallback_pg_init_write:10000
pnfs_mds_fallback_pg_get_mirror_count:10000 pnfs_mds_fallback_read_done:10000
pnfs_mds_fallback_write_done:10000 pnfs_mds_fallback_read_pagelist:10000
pnfs_mds_fallback_write_pagelist:10000 coda_dec_pic_run:10 coda_dec_pic_done:10
cfg80211_scan_done:11 rdev_set_coalesce:10 cfg80211_report_wowlan_wakeup:100
cfg80211_inform_bss_frame:100 cfg80211_michael_mic_failure:10000 wiphy_work_queue:10
wiphy_work_run:10 wiphy_work_cancel:10 wiphy_work_flush:10 hugetlbfs_alloc_inode:10
spufs_context:10 kvm_page_fault_enter:100 dpu_crtc_setup_mixer:100
binder_transaction:100 btree_path_free:100 hfi1_sdma_progress:1000
iptfs_ingress_postq_event:1000 neigh_update:10 amdtp_packet:100
"""
RAW_TP_NULL_ARGS: dict[str, int] = {
    k: int(v, 16) for k, v in (e.split(":") for e in _NULL_ARGS.split())}


#: section prefix -> (BTF name prefix, BTF kind) of its attach target (libbpf's
#: find_attach_btf_id; ``.s``: the sleepable forms)
TARGET_NAMES = {
    "fentry": ("", B.FUNC), "fexit": ("", B.FUNC), "fmod_ret": ("", B.FUNC),
    "fentry.s": ("", B.FUNC), "fexit.s": ("", B.FUNC), "fmod_ret.s": ("", B.FUNC),
    "tp_btf": ("btf_trace_", B.TYPEDEF), "lsm": ("bpf_lsm_", B.FUNC),
    "lsm.s": ("bpf_lsm_", B.FUNC), "lsm_cgroup": ("bpf_lsm_", B.FUNC),
    "iter": ("bpf_iter_", B.FUNC), "iter.s": ("bpf_iter_", B.FUNC),
}


def target_btf_name(section: str) -> tuple[str, int] | None:
    """(BTF name, kind) of the section's attach target; None when the section has none."""
    head, _, target = section.partition("/")
    if head not in TARGET_NAMES:
        return None
    prefix, kind = TARGET_NAMES[head]
    return prefix + target, kind


def vmlinux_btf(path: str = VMLINUX_BTF) -> B.Btf:
    """The running kernel's BTF (parsed once; ``NotModelled`` when it is not readable)."""
    btf = target_btf(path)
    if btf is None:
        raise NotModelled(f"BTF-typed programs without the kernel's BTF ({path} cannot be "
                          "read)")
    return btf


@dataclass(frozen=True)
class Target:
    """What a BTF-typed program attaches to: ``name`` as the verifier logs it (the FUNC's
    or the tracepoint's), ``btf_id`` the ``attach_btf_id`` to load with, ``proto`` the
    FUNC_PROTO, ``params`` the context's arguments (``void *__data`` dropped for tp_btf),
    ``trusted`` whether struct pointer arguments are PTR_TRUSTED, ``null_mask`` the
    tracepoint's raw_tp_null_args mask (0 elsewhere)."""

    prog_type: str
    attach_type: int
    name: str
    btf_id: int
    proto: B.BtfType
    params: tuple
    trusted: bool
    null_mask: int = 0
    hook: str = ""          # lsm: the hook's name without bpf_lsm_
    #: iterators: the target's ctx_arg_info, (argument name, kind, flag) triples
    #: (model.platform.iter_targets)
    iter_args: tuple = ()


def _func(btf: B.Btf, name: str, section: str) -> B.BtfType:
    t = btf.find(name, B.FUNC)
    if t is None:
        raise NotModelled(f"attach target {name} of section {section} (not in vmlinux BTF: "
                          "a module's function, or no such function)")
    return t


def attach_target(prog_type: str, attach_type: int, section: str) -> Target:
    """The target of a BTF-typed program (see the module doc); ``NotModelled`` otherwise."""
    if attach_type not in MODELLED_ATTACH.get(prog_type, ()):
        raise NotModelled(f"program type {prog_type} with attach type {attach_type} "
                          f"(section {section})")
    _, _, rest = section.partition("/")
    if not rest:
        raise NotModelled(f"section {section} names no attach target (libbpf would take it "
                          "from bpf_program__set_attach_target)")
    btf = vmlinux_btf()
    if attach_type == BPF_TRACE_RAW_TP:
        td = btf.find(*target_btf_name(section))
        if td is None:
            raise NotModelled(f"tracepoint {rest} of section {section} (no "
                              f"btf_trace_{rest} in vmlinux BTF)")
        ptr = btf.resolve(td.type)
        proto = btf.resolve(ptr.type) if ptr.kind == B.PTR else ptr
        if proto.kind != B.FUNC_PROTO or not proto.members:
            raise NotModelled(f"tracepoint {rest}: btf_trace_{rest} is not a pointer to a "
                              "function prototype")
        return Target(prog_type, attach_type, rest, td.id, proto, proto.members[1:], True,
                      RAW_TP_NULL_ARGS.get(rest, 0))
    if attach_type == BPF_TRACE_ITER:
        args = iter_ctx_args(rest)
        if args is None:
            raise NotModelled(f"iterator target {rest} (section {section})")
        f = _func(btf, target_btf_name(section)[0], section)
        proto = btf.type(f.type)
        return Target(prog_type, attach_type, f.name, f.id, proto, proto.members, True,
                      iter_args=tuple((n, k, flag) for n, (k, flag) in args.items()))
    if prog_type == "lsm":
        f = _func(btf, target_btf_name(section)[0], section)
        proto = btf.type(f.type)
        return Target(prog_type, attach_type, f.name, f.id, proto, proto.members,
                      rest not in UNTRUSTED_LSM_HOOKS, hook=rest)
    f = _func(btf, rest, section)
    if attach_type == BPF_MODIFY_RETURN and not rest.startswith(MODIFIABLE_PREFIXES):
        raise NotModelled(f"fmod_ret target {rest} (the kernel allows only security_* "
                          "functions and its error-injection list, unknown here)")
    proto = btf.type(f.type)
    return Target(prog_type, attach_type, f.name, f.id, proto, proto.members, False)


def btf_target(prog) -> Target | None:
    """The attach target of a loaded ``model.program.Program`` of a BTF-typed type, None
    for every other type (``NotModelled`` when it has none skv can use)."""
    if prog.prog_type not in MODELLED_ATTACH:
        return None
    return attach_target(prog.prog_type, prog.attach_type, prog.section)


def target_refusal(prog, gpl: bool) -> str | None:
    """What the kernel says when it refuses the attach target of a BTF-typed program before
    verifying it (bpf_lsm_verify_prog: the license, the disabled hooks), or None."""
    if prog.prog_type != "lsm":
        return None
    if not gpl:
        return "LSM programs must have a GPL compatible license"
    target = btf_target(prog)
    if target is not None and target.hook in DISABLED_LSM_HOOKS:
        return f"attach_btf_id {target.btf_id} points to a disabled hook {target.name}"
    return None


def lsm_return_range(target: Target) -> tuple[int, int] | None:
    """bpf_lsm_get_retval_range: the range an lsm program's r0 must lie in (32-bit), None
    for a void hook."""
    if not target.proto.type:
        return None
    if target.hook in BOOL_LSM_HOOKS:
        return (0, 1)
    return (-MAX_ERRNO, 0)


__all__ = ["Target", "attach_target", "btf_target", "target_refusal", "vmlinux_btf", "lsm_return_range", "RAW_TP_NULL_ARGS",
           "MODELLED_ATTACH"]
