"""Kptr fields of map values and bpf_kptr_xchg (model.verifier.kptrs) against the running
kernel: C programs built with the kernel's vmlinux.h (tp_btf, tc and syscall programs),
each loaded into the kernel with its maps (the object's BTF: the kptr fields) and judged by
skv; the same verdict and the kernel's words on every one, and the Z3 engine's verdict
where it decides; kptrs skv does not model are refused at load."""

from __future__ import annotations

import pytest

from model.kernel import available

needs_kernel = pytest.mark.skipif(not available()[0], reason=available()[1])

SOURCE = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#define __kptr_untrusted __attribute__((btf_type_tag("kptr_untrusted")))
#define __kptr __attribute__((btf_type_tag("kptr")))
struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
void bpf_task_release(struct task_struct *p) __ksym;
struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
struct cgroup *bpf_cgroup_acquire(struct cgroup *p) __ksym;
void bpf_cgroup_release(struct cgroup *p) __ksym;
struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;
struct bpf_cpumask *bpf_cpumask_acquire(struct bpf_cpumask *cpumask) __ksym;
void bpf_cpumask_set_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask) __ksym;
void bpf_rcu_read_lock(void) __ksym;
void bpf_rcu_read_unlock(void) __ksym;
char LICENSE[] SEC("license") = "GPL";
struct val { struct task_struct __kptr *t; struct task_struct __kptr_untrusted *u; long x; struct cgroup __kptr *c; struct bpf_cpumask __kptr *m; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, struct val); } m SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, int); __type(value, struct val); } h SEC(".maps");
#define LOOKUP struct val *v; int k = 0; v = bpf_map_lookup_elem(&m, &k); if (!v) return 0;
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_ok, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_task_acquire(task); if (!a) return 0;
  a = bpf_kptr_xchg(&v->t, a); if (a) bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_null, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_kptr_xchg(&v->t, NULL); if (a) bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_leak, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_kptr_xchg(&v->t, NULL); return a != 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_unref, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_kptr_xchg(&v->u, NULL); if (a) bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_trusted_noref, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_kptr_xchg(&v->t, task); if (a) bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_wrong_type, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_task_acquire(task); if (!a) return 0;
  struct cgroup *c = bpf_kptr_xchg(&v->c, a); if (c) bpf_cgroup_release(c); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_scalar_field, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_kptr_xchg((void *)&v->x, NULL); if (a) bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_cpumask, struct task_struct *task, u64 flags)
{ LOOKUP struct bpf_cpumask *c = bpf_cpumask_create(); if (!c) return 0;
  c = bpf_kptr_xchg(&v->m, c); if (c) bpf_cpumask_release(c); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(load_rcu, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *t = v->t; if (!t) return 0; return t->pid; }
SEC("tp_btf/task_newtask") int BPF_PROG(load_rcu_acquire, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *t = v->t; if (!t) return 0; t = bpf_task_acquire(t); if (t) bpf_task_release(t); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(load_rcu_nocheck, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *t = v->t; return t->pid; }
SEC("tp_btf/task_newtask") int BPF_PROG(load_untrusted_acquire, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *t = v->u; if (!t) return 0; t = bpf_task_acquire(t); if (t) bpf_task_release(t); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(load_untrusted_read, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *t = v->u; if (!t) return 0; return t->pid; }
SEC("tp_btf/task_newtask") int BPF_PROG(store_unref_ok, struct task_struct *task, u64 flags)
{ LOOKUP v->u = task; return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(store_unref_null, struct task_struct *task, u64 flags)
{ LOOKUP v->u = NULL; return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(store_ref, struct task_struct *task, u64 flags)
{ LOOKUP v->t = task; return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(store_ref_null, struct task_struct *task, u64 flags)
{ LOOKUP v->t = NULL; return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(store_unref_wrong, struct task_struct *task, u64 flags)
{ LOOKUP v->u = (void *)task->cgroups->dfl_cgrp; return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(store_unref_scalar, struct task_struct *task, u64 flags)
{ LOOKUP v->u = (void *)flags; return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(read_half, struct task_struct *task, u64 flags)
{ LOOKUP return *(u32 *)&v->t; }
SEC("tp_btf/task_newtask") int BPF_PROG(read_as_scalar_add, struct task_struct *task, u64 flags)
{ LOOKUP __sync_fetch_and_add((long *)&v->u, 1); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(read_mis, struct task_struct *task, u64 flags)
{ LOOKUP return *(u64 *)((char *)v + 4); }
SEC("tp_btf/task_newtask") int BPF_PROG(helper_over, struct task_struct *task, u64 flags)
{ LOOKUP bpf_probe_read_kernel(v, 16, task); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(var_off, struct task_struct *task, u64 flags)
{ LOOKUP u64 i = flags & 1; return ((u64 *)v)[i]; }
SEC("tp_btf/task_newtask") int BPF_PROG(hash_xchg, struct task_struct *task, u64 flags)
{ struct val *v; int k = 0; v = bpf_map_lookup_elem(&h, &k); if (!v) return 0;
  struct task_struct *a = bpf_task_acquire(task); if (!a) return 0;
  a = bpf_kptr_xchg(&v->t, a); if (a) bpf_task_release(a); return 0; }
SEC("tc") int tc_xchg(struct __sk_buff *skb)
{ LOOKUP struct task_struct *a = bpf_task_from_pid(1); if (!a) return 0;
  a = bpf_kptr_xchg(&v->t, a); if (a) bpf_task_release(a); return 0; }
SEC("tc") int tc_load(struct __sk_buff *skb)
{ LOOKUP struct task_struct *t = v->t; if (!t) return 0; return t->pid; }
SEC("syscall") int sys_load(void *ctx)
{ LOOKUP struct task_struct *t = v->t; if (!t) return 0; t = bpf_task_acquire(t); if (t) bpf_task_release(t); return 0; }
SEC("syscall") int sys_load_rcu(void *ctx)
{ LOOKUP bpf_rcu_read_lock(); struct task_struct *t = v->t; if (t) { t = bpf_task_acquire(t); if (t) bpf_task_release(t); } bpf_rcu_read_unlock(); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(after_unlock, struct task_struct *task, u64 flags)
{ LOOKUP bpf_rcu_read_lock(); struct task_struct *t = v->t; bpf_rcu_read_unlock(); if (!t) return 0; t = bpf_task_acquire(t); if (t) bpf_task_release(t); return 0; }

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, long); } plain SEC(".maps");
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_stack, struct task_struct *task, u64 flags)
{ struct task_struct *s = 0; struct task_struct *a = bpf_kptr_xchg(&s, NULL); if (a) bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_plain_map, struct task_struct *task, u64 flags)
{ int k = 0; long *v = bpf_map_lookup_elem(&plain, &k); if (!v) return 0; struct task_struct *a = bpf_kptr_xchg(v, NULL); if (a) bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_var, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_kptr_xchg((void *)((char *)v + (flags & 8)), NULL); if (a) bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_twice_release, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_task_acquire(task); if (!a) return 0;
  struct task_struct *b = bpf_kptr_xchg(&v->t, a); if (b) bpf_task_release(b); bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_use_after, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_task_acquire(task); if (!a) return 0;
  struct task_struct *b = bpf_kptr_xchg(&v->t, a); if (b) bpf_task_release(b); return a->pid; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_result_read, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *b = bpf_kptr_xchg(&v->t, NULL); if (!b) return 0; int p = b->pid; bpf_task_release(b); return p; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_rcu_ptr, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *p = task->real_parent; struct task_struct *b = bpf_kptr_xchg(&v->t, p); if (b) bpf_task_release(b); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_back_and_forth, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *b = bpf_kptr_xchg(&v->t, NULL); if (!b) return 0; b = bpf_kptr_xchg(&v->t, b); if (b) bpf_task_release(b); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(store_unref_rcu_load, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *t = v->t; if (!t) return 0; v->u = t; return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(store_unref_acquired, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_task_acquire(task); if (!a) return 0; v->u = a; bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(store_unref_maybe_null, struct task_struct *task, u64 flags)
{ LOOKUP struct task_struct *a = bpf_task_acquire(task); v->u = a; if (a) bpf_task_release(a); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(rcu_tail_leak, struct task_struct *task, u64 flags)
{ bpf_rcu_read_lock(); struct task_struct *a = bpf_task_acquire(task); bpf_rcu_read_unlock(); return a != 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(rcu_helper_inside, struct task_struct *task, u64 flags)
{ bpf_rcu_read_lock(); long r = bpf_get_current_pid_tgid(); bpf_rcu_read_unlock(); return r; }
SEC("tp_btf/task_newtask") int BPF_PROG(rcu_branch, struct task_struct *task, u64 flags)
{ if (flags & 1) bpf_rcu_read_lock(); if (flags & 1) bpf_rcu_read_unlock(); return 0; }
struct val4 { struct task_struct __kptr *t; struct cgroup __kptr *c; struct bpf_cpumask __kptr *m; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, struct val4); } m4 SEC(".maps");
#define LOOKUP4 struct val4 *v; int k = 0; v = bpf_map_lookup_elem(&m4, &k); if (!v) return 0;
SEC("tp_btf/task_newtask") int BPF_PROG(cgroup_load_acquire, struct task_struct *task, u64 flags)
{ LOOKUP4 struct cgroup *c = v->c; if (!c) return 0; c = bpf_cgroup_acquire(c); if (c) bpf_cgroup_release(c); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(cpumask_load_test, struct task_struct *task, u64 flags)
{ LOOKUP4 struct bpf_cpumask *c = v->m; if (!c) return 0; return bpf_cpumask_test_cpu(0, (const struct cpumask *)c); }
SEC("tp_btf/task_newtask") int BPF_PROG(cpumask_load_acquire, struct task_struct *task, u64 flags)
{ LOOKUP4 struct bpf_cpumask *c = v->m; if (!c) return 0; c = bpf_cpumask_acquire(c); bpf_cpumask_release(c); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(task_load_release, struct task_struct *task, u64 flags)
{ LOOKUP4 struct task_struct *t = v->t; if (!t) return 0; bpf_task_release(t); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(cgroup_xchg_from_task, struct task_struct *task, u64 flags)
{ LOOKUP4 struct cgroup *c = bpf_cgroup_acquire(task->cgroups->dfl_cgrp); if (!c) return 0; c = bpf_kptr_xchg(&v->c, c); if (c) bpf_cgroup_release(c); return 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(xchg_in_rcu_then_use, struct task_struct *task, u64 flags)
{ LOOKUP4 struct task_struct *a = bpf_task_acquire(task); if (!a) return 0; bpf_rcu_read_lock(); a = bpf_kptr_xchg(&v->t, a); bpf_rcu_read_unlock(); if (a) bpf_task_release(a); return 0; }
SEC("syscall") int sys_cpumask_load(void *ctx)
{ LOOKUP4 struct bpf_cpumask *c = v->m; if (!c) return 0; return bpf_cpumask_test_cpu(0, (const struct cpumask *)c); }
SEC("tc") int tc_cgroup_load(struct __sk_buff *skb)
{ LOOKUP4 struct cgroup *c = v->c; if (!c) return 0; c = bpf_cgroup_acquire(c); if (c) bpf_cgroup_release(c); return 0; }
SEC("tc") int tc_xchg_null(struct __sk_buff *skb)
{ int k = 0; struct val *v = bpf_map_lookup_elem(&m, &k); if (!v) return 1;
  struct task_struct *a = bpf_kptr_xchg(&v->t, NULL); if (a) { bpf_task_release(a); return 2; } return 3; }
struct val6 { struct bpf_cpumask __kptr *m; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, struct val); } m6 SEC(".maps");
u32 bpf_cpumask_first(const struct cpumask *cpumask) __ksym;
u32 bpf_cpumask_first_zero(const struct cpumask *cpumask) __ksym;
void bpf_cpumask_clear_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
void bpf_cpumask_clear(struct bpf_cpumask *cpumask) __ksym;
void bpf_cpumask_setall(struct bpf_cpumask *cpumask) __ksym;
bool bpf_cpumask_empty(const struct cpumask *cpumask) __ksym;
u32 bpf_cpumask_weight(const struct cpumask *cpumask) __ksym;
struct cgroup *bpf_cgroup_ancestor(struct cgroup *cgrp, int level) __ksym;
long bpf_task_under_cgroup(struct task_struct *task, struct cgroup *ancestor) __ksym;
struct task_struct *bpf_task_from_vpid(s32 vpid) __ksym;
struct cgroup *bpf_cgroup_from_id(u64 cgid) __ksym;
#define MASK struct val6 *v; int k = 0; v = bpf_map_lookup_elem(&m6, &k); if (!v) return 0; struct bpf_cpumask *c = v->m; if (!c) return 0;
#define C6(n, body) SEC("tp_btf/task_newtask") int BPF_PROG(n, struct task_struct *task, u64 flags) { body }
C6(m_first, MASK return bpf_cpumask_first((const struct cpumask *)c);)
C6(m_first_zero, MASK return bpf_cpumask_first_zero((const struct cpumask *)c);)
C6(m_set, MASK bpf_cpumask_set_cpu(1, c); return 0;)
C6(m_clear_cpu, MASK bpf_cpumask_clear_cpu(1, c); return 0;)
C6(m_clear, MASK bpf_cpumask_clear(c); return 0;)
C6(m_setall, MASK bpf_cpumask_setall(c); return 0;)
C6(m_empty, MASK return bpf_cpumask_empty((const struct cpumask *)c);)
C6(m_weight, MASK return bpf_cpumask_weight((const struct cpumask *)c);)
C6(m_test, MASK return bpf_cpumask_test_cpu(0, (const struct cpumask *)c);)
C6(m_acquire, MASK c = bpf_cpumask_acquire(c); bpf_cpumask_release(c); return 0;)
C6(m_cpus_ptr, return bpf_cpumask_first(task->cpus_ptr);)
C6(m_cpus_ptr_w, return bpf_cpumask_weight(task->cpus_ptr);)
C6(m_cpus_ptr_set, bpf_cpumask_set_cpu(0, (struct bpf_cpumask *)task->cpus_ptr); return 0;)
C6(c_ancestor_rcu, struct cgroup *a = bpf_cgroup_ancestor(task->cgroups->dfl_cgrp, 1); if (a) bpf_cgroup_release(a); return 0;)
C6(c_ancestor_noret, struct cgroup *a = bpf_cgroup_ancestor(task->cgroups->dfl_cgrp, 1); return a != 0;)
C6(t_under_rcu, return bpf_task_under_cgroup(task->real_parent, task->cgroups->dfl_cgrp);)
C6(t_under_trusted, return bpf_task_under_cgroup(task, task->cgroups->dfl_cgrp);)
C6(t_from_vpid, struct task_struct *t = bpf_task_from_vpid(1); if (t) bpf_task_release(t); return 0;)
C6(t_from_vpid_leak, struct task_struct *t = bpf_task_from_vpid(1); return t != 0;)
C6(c_from_id_read, struct cgroup *g = bpf_cgroup_from_id(1); if (!g) return 0; int l = g->level; bpf_cgroup_release(g); return l;)
C6(t_parent_of_parent, struct task_struct *p = task->real_parent; struct task_struct *a = bpf_task_acquire(p->real_parent); if (a) bpf_task_release(a); return 0;)
C6(t_group_leader_acq, struct task_struct *a = bpf_task_acquire(task->group_leader); if (a) bpf_task_release(a); return 0;)
C6(t_mm_owner, struct task_struct *a = bpf_task_acquire(task->mm->owner); if (a) bpf_task_release(a); return 0;)
__noinline int glob(struct task_struct *t) { if (!t) return 0; struct task_struct *a = bpf_task_acquire(t->real_parent); if (a) bpf_task_release(a); return 0; }
SEC("syscall") int g(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (!t) return 0; bpf_rcu_read_lock(); glob(t); bpf_rcu_read_unlock(); bpf_task_release(t); return 0; }
static __noinline int stat(struct task_struct *t) { struct task_struct *a = bpf_task_acquire(t->real_parent); if (a) bpf_task_release(a); return 0; }
SEC("syscall") int s(void *ctx) { struct task_struct *t = bpf_task_from_pid(1); if (!t) return 0; bpf_rcu_read_lock(); stat(t); bpf_rcu_read_unlock(); bpf_task_release(t); return 0; }
__noinline int gt(struct task_struct *t) { return t ? t->pid : 0; }
SEC("tp_btf/task_newtask") int BPF_PROG(g_task, struct task_struct *task, u64 flags) { return gt(task); }
"""

#: a referenced kptr to a struct without a destructor kfunc (or one known by a forward
#: declaration only): the kernel refuses the object's BTF (libbpf then creates the maps
#: without it)
NO_DTOR = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#define __kptr __attribute__((btf_type_tag("kptr")))
struct fval { struct file __kptr *f; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int);
         __type(value, struct fval); } fm SEC(".maps");
SEC("tc") int touch(struct __sk_buff *skb)
{ int k = 0; struct fval *v = bpf_map_lookup_elem(&fm, &k); return v != 0; }
char LICENSE[] SEC("license") = "GPL";
"""


#: kernel rejections skv words differently (both reject): skv's reason. A global function
#: is verified by the kernel on its own from its BTF prototype; skv refuses the calls
#: where that differs from following it (typed pointers, an RCU read section)
WORDED = {
    "g": "not modelled: a call of global function glob inside an RCU read section",
    "g_task": "not modelled: a typed pointer (R1) passed to global function gt",
}


@pytest.fixture(scope="module")
def kptr_object(tmp_path_factory):
    from model.elf.loader import load_object
    from tracing_probes import c_object_with_vmlinux

    return load_object(str(c_object_with_vmlinux(tmp_path_factory.mktemp("kptr"), SOURCE)))


def _kernel(obj, prog) -> tuple[bool, str]:
    from model.kernel.objload import load_program

    r = load_program(obj, prog)
    skip = ("processed ", "verification time", "stack depth")
    lines = [x for x in r.log.strip().splitlines() if x and not x.startswith(skip)]
    return r.ok, lines[-1] if lines else f"errno {r.errno}"


def test_fields_name_the_kptr_tag_and_struct(kptr_object):
    m = kptr_object.maps["m"]
    assert m.fields == (("kptr:task_struct", 0, 8), ("kptr_untrusted:task_struct", 8, 8),
                        ("kptr:cgroup", 24, 8), ("kptr:bpf_cpumask", 32, 8))


@needs_kernel
def test_kptr_programs_against_kernel(kptr_object):
    """Every program (kptrs, and kfuncs on kptr-loaded and RCU pointers): never accepted
    when the kernel refuses; the kernel's verdict and words. At least a third of them are accepted (the rules let real uses through)."""
    from model.symbolic.engine import Engine
    from model.verifier.checker import check_program

    accepted, decided, bad = 0, 0, []
    for prog in kptr_object.programs:
        ok, msg = _kernel(kptr_object, prog)
        v = check_program(kptr_object, prog)
        ours = v.error.message.splitlines()[-1] if v.error else ""
        assert not (v.accepted and not ok), f"FALSE ACCEPT {prog.name}: kernel: {msg}"
        if v.accepted != ok or (not ok and ours != WORDED.get(prog.name, msg)):
            bad.append(f"{prog.name}: kernel {ok} {msg!r}, skv {v.accepted} {ours!r}")
        accepted += ok
        # the Z3 engine (model.symbolic.kptrs, kfuncs): unsafe exactly when the kernel
        # rejects, wherever it decides (unknown: what it leaves to the verifier)
        r = Engine(kptr_object, prog).run()
        if r.failures or not r.exhausted:
            decided += 1
            if bool(r.failures) == ok:
                bad.append(f"{prog.name}: kernel {ok} {msg!r}, Z3 "
                           f"{[f.reason for f in r.failures] or 'safe'}")
    assert not bad, "\n".join(bad)
    assert accepted * 3 >= len(kptr_object.programs)
    assert decided >= len(kptr_object.programs) - 4  # (indirect/variable kptr access, g, g_task)


def test_kptr_without_destructor_is_not_modelled(tmp_path):
    from model.elf.loader import load_object
    from model.verifier.checker import check_program
    from tracing_probes import c_object_with_vmlinux

    obj = load_object(str(c_object_with_vmlinux(tmp_path, NO_DTOR)))
    v = check_program(obj, obj.programs[0])
    # (clang may describe struct file by a forward declaration only: "a non-struct type")
    assert v.error.message.startswith("not modelled: a kptr field to ")
    assert v.error.message.endswith(" in map fm")


@needs_kernel
def test_interpreter_runs_kptr_xchg_of_null_like_the_kernel(kptr_object):
    """bpf_kptr_xchg(&v->t, NULL) on a fresh map gives NULL back: the interpreter's run
    and the kernel's test run return the same value."""
    from model.interp.machine import Machine
    from model.kernel.objload import loaded

    prog = next(p for p in kptr_object.programs if p.name == "tc_xchg_null")
    r = Machine(prog, kptr_object.maps).run(packet=bytes(64))
    with loaded(kptr_object, prog) as lp:
        assert lp.ok
        assert (r.status, r.r0) == ("exit", lp.test_run(bytes(64)).retval) == ("exit", 3)
