"""C programs of the cgroup program types for tests/test_cgroup_types.py (built with
clang-19 after conftest.PRELUDE): realistic hooks -- a connect4 rewrite, a sysctl filter
reading the name and the value, getsockopt/setsockopt programs checking optval bounds, a
device filter, socket create/bind hooks -- and deliberately unsafe twins. A program whose
name ends in ``_ok`` is one the kernel accepts. :data:`PROBES`: the same kinds of probes
in assembly, per section."""

SOURCE = r"""
struct bpf_sock { __u32 bound_dev_if, family, type, protocol, mark, priority, src_ip4,
                  src_ip6[4], src_port; __u32 dst_port; __u32 dst_ip4, dst_ip6[4], state;
                  __s32 rx_queue_mapping; };
struct bpf_sock_addr { __u32 user_family, user_ip4, user_ip6[4], user_port, family, type,
                       protocol, msg_src_ip4, msg_src_ip6[4]; struct bpf_sock *sk; };
struct bpf_sysctl { __u32 write, file_pos; };
struct bpf_sockopt { struct bpf_sock *sk; __u8 *optval, *optval_end;
                     __s32 level, optname, optlen, retval; };
struct bpf_cgroup_dev_ctx { __u32 access_type, major, minor; };
static long (*bpf_sysctl_get_name)(void *ctx, char *buf, unsigned long len, __u64 flags) =
    (void *)101;
static long (*bpf_sysctl_get_current_value)(void *ctx, char *buf, unsigned long len) =
    (void *)102;
static long (*bpf_sysctl_set_new_value)(void *ctx, const char *buf, unsigned long len) =
    (void *)104;
static long (*bpf_strtoul)(const char *buf, unsigned long len, __u64 flags,
                           unsigned long *res) = (void *)106;
static long (*bpf_bind)(void *ctx, void *addr, int len) = (void *)64;
static __u64 (*bpf_get_socket_cookie)(void *ctx) = (void *)46;
static long (*bpf_setsockopt)(void *sk, int level, int optname, void *optval, int len) =
    (void *)49;

#define LOCALHOST 0x0100007f

SEC("cgroup/connect4") int connect4_rewrite_ok(struct bpf_sock_addr *ctx) {
    if (ctx->user_ip4 == LOCALHOST && ctx->user_port == __builtin_bswap16(8080)) {
        ctx->user_ip4 = 0x0200007f;
        ctx->user_port = __builtin_bswap16(9090);
    }
    if (ctx->type != 1)
        return 1;
    return bpf_get_socket_cookie(ctx) != 7;
}

SEC("cgroup/connect4") int connect4_sk_family_ok(struct bpf_sock_addr *ctx) {
    struct bpf_sock *sk = ctx->sk;
    return sk->family == 2 && sk->protocol == 6;
}

SEC("cgroup/connect4") int connect4_bind_ok(struct bpf_sock_addr *ctx) {
    struct { __u16 fam, port; __u32 addr; __u8 zero[8]; } sa = {2, 0, LOCALHOST};
    return bpf_bind(ctx, &sa, sizeof(sa)) == 0;
}

SEC("cgroup/connect4") int connect4_writes_family(struct bpf_sock_addr *ctx) {
    ctx->family = 10;
    return 1;
}

SEC("cgroup/connect6") int connect6_reads_user_ip4(struct bpf_sock_addr *ctx) {
    return ctx->user_ip4 == LOCALHOST;
}

SEC("cgroup/sendmsg4") int sendmsg4_source_ok(struct bpf_sock_addr *ctx) {
    if (ctx->user_ip4 == LOCALHOST)
        ctx->msg_src_ip4 = LOCALHOST;
    return 1;
}

SEC("cgroup/recvmsg4") int recvmsg4_returns_zero(struct bpf_sock_addr *ctx) {
    ctx->user_ip4 = LOCALHOST;
    return 0;
}

SEC("cgroup/recvmsg4") int recvmsg4_restore_ok(struct bpf_sock_addr *ctx) {
    if (ctx->user_ip4 == 0x0200007f) {
        ctx->user_ip4 = LOCALHOST;
        ctx->user_port = __builtin_bswap16(8080);
    }
    return 1;
}

SEC("cgroup/sysctl") int sysctl_filter_ok(struct bpf_sysctl *ctx) {
    char name[16] = {};
    char value[8] = {};
    unsigned long v = 0;
    if (!ctx->write)
        return 1;
    if (bpf_sysctl_get_name(ctx, name, sizeof(name), 1) < 0)
        return 1;
    if (name[0] != 't' || name[1] != 'c' || name[2] != 'p')
        return 1;
    if (bpf_sysctl_get_current_value(ctx, value, sizeof(value)) < 0)
        return 0;
    if (bpf_strtoul(value, sizeof(value), 0, &v) < 0)
        return 0;
    if (v > 4096) {
        ctx->file_pos = 0;
        return bpf_sysctl_set_new_value(ctx, "4096", 4) == 0;
    }
    return 1;
}

SEC("cgroup/sysctl") int sysctl_writes_write(struct bpf_sysctl *ctx) {
    ctx->write = 0;
    return 1;
}

SEC("cgroup/sysctl") int sysctl_name_past_buffer(struct bpf_sysctl *ctx) {
    char name[8] = {};
    return bpf_sysctl_get_name(ctx, name, 16, 0) > 0;
}

SEC("cgroup/getsockopt") int getsockopt_bounds_ok(struct bpf_sockopt *ctx) {
    __u8 *p = ctx->optval, *end = ctx->optval_end;
    if (ctx->level != 1 || p + 4 > end)
        return 1;
    p[0] = 0x55;
    ctx->optlen = 4;
    return 1;
}

SEC("cgroup/getsockopt") int getsockopt_merged_store(struct bpf_sockopt *ctx) {
    ctx->retval = 0;     /* with optlen, one 8-byte store: no such context access */
    ctx->optlen = 4;
    return 1;
}

SEC("cgroup/getsockopt") int getsockopt_past_optval(struct bpf_sockopt *ctx) {
    __u8 *p = ctx->optval, *end = ctx->optval_end;
    if (p + 4 > end)
        return 1;
    return p[4];
}

SEC("cgroup/getsockopt") int getsockopt_unchecked(struct bpf_sockopt *ctx) {
    return ctx->optval[0] == 1;
}

SEC("cgroup/setsockopt") int setsockopt_rewrite_ok(struct bpf_sockopt *ctx) {
    __u8 *p = ctx->optval, *end = ctx->optval_end;
    if (ctx->level == 6 && ctx->optname == 13 && p + 4 <= end) {
        *(__u32 *)p = 0;
        ctx->optname = 2;
    }
    return 1;
}

SEC("cgroup/setsockopt") int setsockopt_merged_level_optname(struct bpf_sockopt *ctx) {
    if (ctx->level == 6) {
        ctx->level = 1;  /* with optname, one 8-byte store: no such context access */
        ctx->optname = 2;
    }
    return 1;
}

SEC("cgroup/setsockopt") int setsockopt_helper_ok(struct bpf_sockopt *ctx) {
    int one = 1;
    if (ctx->level == 1)
        bpf_setsockopt(ctx->sk, 1, 2, &one, sizeof(one));
    return 1;
}

SEC("cgroup/setsockopt") int setsockopt_writes_retval(struct bpf_sockopt *ctx) {
    ctx->retval = 0;
    return 1;
}

SEC("cgroup/dev") int dev_filter_ok(struct bpf_cgroup_dev_ctx *ctx) {
    __u16 type = ctx->access_type & 0xFFFF;
    __u32 access = ctx->access_type >> 16;
    if (type == 2 && ctx->major == 1 && ctx->minor == 3)
        return 1;
    if (access & 2)
        return 0;
    return ctx->major != 7;
}

SEC("cgroup/dev") int dev_returns_two(struct bpf_cgroup_dev_ctx *ctx) {
    return ctx->major == 1 ? 2 : 0;
}

SEC("cgroup/dev") int dev_writes_minor(struct bpf_cgroup_dev_ctx *ctx) {
    ctx->minor = 0;
    return 1;
}

SEC("cgroup/sock_create") int sock_create_ok(struct bpf_sock *ctx) {
    if (ctx->family == 10 && ctx->type == 2) {
        ctx->mark = 7;
        ctx->priority = 1;
    }
    return bpf_get_socket_cookie(ctx) != 0 || 1;
}

SEC("cgroup/sock_create") int sock_create_reads_src_port(struct bpf_sock *ctx) {
    return ctx->src_port != 22;
}

SEC("cgroup/post_bind4") int post_bind4_ok(struct bpf_sock *ctx) {
    return ctx->src_port != 22 || ctx->src_ip4 == LOCALHOST;
}

SEC("cgroup/post_bind6") int post_bind6_ok(struct bpf_sock *ctx) {
    return ((__u16 *)ctx->src_ip6)[7] != 0x100 || ctx->src_port != 22;
}

SEC("cgroup/post_bind4") int post_bind4_writes_mark(struct bpf_sock *ctx) {
    ctx->mark = 1;
    return 1;
}

/* a service load balancer in the style of Cilium's sock4 hooks: connect4 translates a
   service address to a backend and remembers the original by socket cookie; recvmsg4
   translates replies back */
struct svc_key { __u32 addr; __u16 port; __u16 pad; };
struct backend { __u32 addr; __u16 port; __u16 pad; };
struct { __uint(type, 1); __type(key, struct svc_key); __type(value, struct backend);
         __uint(max_entries, 64); } services SEC(".maps");
struct { __uint(type, 9); __type(key, __u64); __type(value, struct svc_key);
         __uint(max_entries, 64); } revnat SEC(".maps");
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
                                   __u64 flags) = (void *)2;

SEC("cgroup/connect4") int sock4_connect_ok(struct bpf_sock_addr *ctx) {
    struct svc_key key = {.addr = ctx->user_ip4, .port = ctx->user_port};
    struct backend *be;
    __u64 cookie;
    if (ctx->protocol != 6 && ctx->protocol != 17)
        return 1;
    be = bpf_map_lookup_elem(&services, &key);
    if (!be)
        return 1;
    cookie = bpf_get_socket_cookie(ctx);
    bpf_map_update_elem(&revnat, &cookie, &key, 0);
    ctx->user_ip4 = be->addr;
    ctx->user_port = be->port;
    return 1;
}

SEC("cgroup/recvmsg4") int sock4_recvmsg_ok(struct bpf_sock_addr *ctx) {
    __u64 cookie = bpf_get_socket_cookie(ctx);
    struct svc_key *orig = bpf_map_lookup_elem(&revnat, &cookie);
    if (orig) {
        ctx->user_ip4 = orig->addr;
        ctx->user_port = orig->port;
    }
    return 1;
}

SEC("cgroup/connect4") int sock4_connect_unchecked(struct bpf_sock_addr *ctx) {
    struct svc_key key = {.addr = ctx->user_ip4, .port = ctx->user_port};
    struct backend *be = bpf_map_lookup_elem(&services, &key);
    ctx->user_ip4 = be->addr;       /* no NULL check */
    return 1;
}

SEC("cgroup/sendmsg6") int sock6_sendmsg_ok(struct bpf_sock_addr *ctx) {
    if (ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 && ctx->user_ip6[2] == 0 &&
        ctx->user_ip6[3] == __builtin_bswap32(1)) {
        ctx->msg_src_ip6[3] = __builtin_bswap32(1);
        ctx->user_port = __builtin_bswap16(53);
    }
    return 1;
}

/* static keys in a cgroup hook: the rewrite only while the key is on */
STATIC_KEY(rewrite_key);

SEC("cgroup/connect4") int connect4_keyed_ok(struct bpf_sock_addr *ctx) {
    if (sk_unlikely(&rewrite_key))
        ctx->user_port = __builtin_bswap16(9090);
    return 1;
}

SEC("cgroup/connect4") int connect4_keyed_bad_return(struct bpf_sock_addr *ctx) {
    if (sk_unlikely(&rewrite_key))
        return 2;       /* unsafe only with the key on */
    return 1;
}

char LICENSE[] SEC("license") = "GPL";
"""


SK = "r2 = *(u64 *)(r1 + 64)\n"              # bpf_sock_addr->sk
OPT = ("r2 = *(u64 *)(r1 + 8)\nr3 = *(u64 *)(r1 + 16)\nr4 = r2\nr4 += 4\n"
       "if r4 > r3 goto out\n")              # optval .. optval_end, 4 bytes checked
BUF = "r2 = 0\n*(u64 *)(r10 - 8) = r2\n*(u64 *)(r10 - 16) = r2\nr2 = r10\nr2 += -16\n"
END = "r0 = 1\nexit\n"
# (section, name, text); a name ending in _ok is one the kernel accepts
PROBES = [
    ("cgroup/connect4", "sk_family_ok", SK + "r0 = *(u32 *)(r2 + 4)\n" + END),
    ("cgroup/connect4", "sk_src_port_narrow_ok", SK + "r0 = *(u16 *)(r2 + 44)\n" + END),
    ("cgroup/connect4", "sk_write", SK + "r3 = 1\n*(u32 *)(r2 + 4) = r3\n" + END),
    ("cgroup/connect4", "sk_past_end", SK + "r0 = *(u32 *)(r2 + 80)\n" + END),
    ("cgroup/connect4", "sk_release_unreferenced", SK + "r1 = r2\ncall 86\n" + END),
    ("cgroup/connect4", "user_ip4_rewrite_ok",
     "r2 = *(u32 *)(r1 + 4)\nif r2 != 16777343 goto +2\nr2 = 33554559\n"
     "*(u32 *)(r1 + 4) = r2\n" + END),
    ("cgroup/connect4", "user_port_write_u16", "r2 = 80\n*(u16 *)(r1 + 24) = r2\n" + END),
    ("cgroup/connect4", "family_write", "r2 = 2\n*(u32 *)(r1 + 28) = r2\n" + END),
    ("cgroup/connect4", "return_two", "r0 = 2\nexit\n"),
    ("cgroup/bind4", "bind4_return_three_ok", "r0 = 3\nexit\n"),
    ("cgroup/recvmsg4", "recvmsg_return_zero", "r0 = 0\nexit\n"),
    ("cgroup/recvmsg4", "recvmsg_get_retval", "call 186\n" + END),
    ("cgroup/connect4", "connect_get_retval_ok", "call 186\n" + END),
    ("cgroup/bind4", "bind4_bind_helper", "r2 = r10\nr2 += -16\nr3 = 16\ncall 64\n" + END),
    ("cgroup/connect4", "connect_bind_helper_ok",
     "r6 = r1\n" + BUF + "r1 = r6\nr3 = 16\ncall 64\n" + END),
    ("cgroup/connect4", "connect_bind_uninit_buf_ok",
     "r2 = r10\nr2 += -16\nr3 = 16\ncall 64\n" + END),
    ("cgroup/connect6", "sock_cookie_ok", "call 46\n" + END),
    ("cgroup/connect4", "sock_addr_setsockopt_ctx_ok", "r6 = 0\n*(u64 *)(r10 - 8) = r6\n"
     "r2 = 1\nr3 = 2\nr4 = r10\nr4 += -8\nr5 = 4\ncall 49\n" + END),
    ("cgroup/connect4", "sock_addr_setsockopt_sk", "r6 = 0\n*(u64 *)(r10 - 8) = r6\n"
     + SK + "r1 = r2\nr2 = 1\nr3 = 2\nr4 = r10\nr4 += -8\nr5 = 4\ncall 49\n" + END),
    ("cgroup/recvmsg6", "sock_addr_getsockopt_ctx_ok",
     "r2 = 1\nr3 = 2\nr4 = r10\nr4 += -8\nr5 = 8\ncall 57\n" + END),
    ("cgroup/connect4", "sk_lookup_release_ok", "r6 = r1\n" + BUF + "r1 = r6\nr3 = 12\n"
     "r4 = -1\nr5 = 0\ncall 84\nif r0 == 0 goto +2\nr1 = r0\ncall 86\n" + END),
    ("cgroup/sendmsg4", "sk_lookup_leak", "r6 = r1\n" + BUF + "r1 = r6\nr3 = 12\n"
     "r4 = -1\nr5 = 0\ncall 85\n" + END),
    ("cgroup/connect4", "skc_lookup_read_unchecked", "r6 = r1\n" + BUF + "r1 = r6\n"
     "r3 = 12\nr4 = -1\nr5 = 0\ncall 99\nr6 = r0\nr0 = *(u32 *)(r0 + 4)\nr1 = r6\n"
     "call 86\n" + END),
    ("cgroup/sendmsg6", "msg_src_ip6_wide_ok", "r2 = 0\n*(u64 *)(r1 + 48) = r2\n" + END),
    ("cgroup/sendmsg6", "store_ctx_pointer_wide_ok", "*(u64 *)(r1 + 48) = r1\n" + END),
    ("cgroup/connect6", "store_sk_pointer_ok", SK + "*(u64 *)(r1 + 8) = r2\n" + END),
    ("cgroup/connect4", "store_ctx_pointer_half_ok", "*(u32 *)(r1 + 4) = r1\n" + END),
    ("cgroup/sendmsg6", "msg_src_ip6_wide_misplaced", "r2 = 0\n*(u64 *)(r1 + 56) = r2\n" + END),
    ("cgroup/getsockopt", "optval_read_ok", OPT + "r0 = *(u32 *)(r2 + 0)\nout:\n" + END),
    ("cgroup/getsockopt", "optval_write_ok",
     OPT + "r5 = 0\n*(u32 *)(r2 + 0) = r5\nout:\n" + END),
    ("cgroup/setsockopt", "optval_write_set_ok",
     OPT + "r5 = 0\n*(u32 *)(r2 + 0) = r5\nout:\n" + END),
    ("cgroup/getsockopt", "optval_unchecked", "r2 = *(u64 *)(r1 + 8)\nr0 = *(u8 *)(r2 + 0)\n"
     + END),
    ("cgroup/getsockopt", "optval_oob", OPT + "r0 = *(u32 *)(r2 + 2)\nout:\n" + END),
    ("cgroup/getsockopt", "retval_write_ok", "r2 = 0\n*(u32 *)(r1 + 36) = r2\n" + END),
    ("cgroup/setsockopt", "retval_read", "r2 = *(u32 *)(r1 + 36)\n" + END),
    ("cgroup/getsockopt", "level_write", "r2 = 1\n*(u32 *)(r1 + 24) = r2\n" + END),
    ("cgroup/setsockopt", "setsockopt_sk_ok",
     "r6 = r1\n" + BUF.replace("r2 = r10\nr2 += -16\n", "") +
     "r1 = *(u64 *)(r6 + 0)\nr2 = 1\nr3 = 2\nr4 = r10\nr4 += -8\nr5 = 4\ncall 49\n" + END),
    ("cgroup/getsockopt", "setsockopt_in_getsockopt",
     "r1 = *(u64 *)(r1 + 0)\nr2 = 1\nr3 = 2\nr4 = r10\nr4 += -8\nr5 = 4\ncall 49\n" + END),
    ("cgroup/setsockopt", "setsockopt_from_optval_ok",
     "r6 = r1\nr2 = *(u64 *)(r1 + 8)\nr3 = *(u64 *)(r1 + 16)\nr4 = r2\nr4 += 4\n"
     "if r4 > r3 goto out\nr1 = *(u64 *)(r6 + 0)\nr4 = r2\nr2 = 1\nr3 = 2\nr5 = 4\n"
     "call 49\nout:\n" + END),
    *((("cgroup/setsockopt", f"getsockopt_into_optval_{n}" + ("_ok" if n == 4 else ""),
        "r6 = r1\nr2 = *(u64 *)(r1 + 8)\nr3 = *(u64 *)(r1 + 16)\nr4 = r2\nr4 += 4\n"
        "if r4 > r3 goto out\nr1 = *(u64 *)(r6 + 0)\nr4 = r2\nr2 = 1\nr3 = 2\n"
        f"r5 = {n}\ncall 57\nout:\n" + END) for n in (4, 8))),
    ("cgroup/getsockopt", "tcp_sock_ok",
     "r1 = *(u64 *)(r1 + 0)\ncall 96\nif r0 == 0 goto +1\nr0 = *(u32 *)(r0 + 0)\n" + END),
    ("cgroup/getsockopt", "tcp_sock_unchecked",
     "r1 = *(u64 *)(r1 + 0)\ncall 96\nr0 = *(u32 *)(r0 + 0)\n" + END),
    ("cgroup/getsockopt", "netns_cookie_null_ok", "r1 = 0\ncall 122\n" + END),
    ("cgroup/sock_create", "mark_write_ok", "r2 = 7\n*(u32 *)(r1 + 16) = r2\n" + END),
    ("cgroup/sock_release", "dst_port_narrow_ok", "r2 = *(u8 *)(r1 + 49)\n" + END),
    ("cgroup/sock_create", "src_ip4_read", "r2 = *(u32 *)(r1 + 24)\n" + END),
    ("cgroup/post_bind6", "src_ip6_narrow_ok", "r2 = *(u16 *)(r1 + 34)\n" + END),
    ("cgroup/post_bind4", "priority_write", "r2 = 7\n*(u32 *)(r1 + 20) = r2\n" + END),
    ("cgroup/sock_create", "sock_cookie_ok", "call 46\n" + END),
    ("cgroup/dev", "dev_narrow_ok", "r2 = *(u8 *)(r1 + 2)\nr3 = *(u32 *)(r1 + 8)\n" + END),
    ("cgroup/dev", "dev_major_narrow", "r2 = *(u16 *)(r1 + 4)\n" + END),
    ("cgroup/dev", "dev_write", "r2 = 0\n*(u32 *)(r1 + 4) = r2\n" + END),
    ("cgroup/dev", "dev_return_pointer", "r0 = r1\nexit\n"),
    ("cgroup/sysctl", "file_pos_write_ok", "r2 = 0\n*(u32 *)(r1 + 4) = r2\n" + END),
    ("cgroup/sysctl", "sysctl_get_name_ok",
     "r6 = r1\n" + BUF + "r1 = r6\nr3 = 16\nr4 = 0\ncall 101\n" + END),
    ("cgroup/sysctl", "sysctl_get_name_uninit_ok",
     "r2 = r10\nr2 += -16\nr3 = 16\nr4 = 0\ncall 101\n" + END),
    ("cgroup/sysctl", "sysctl_get_current_value_uninit_ok",
     "r2 = r10\nr2 += -16\nr3 = 16\ncall 102\n" + END),
    ("cgroup/sysctl", "sysctl_get_new_value_zero_size",
     "r2 = r10\nr2 += -16\nr3 = 0\ncall 103\n" + END),
    ("cgroup/sysctl", "sysctl_set_new_value_uninit_ok",
     "r2 = r10\nr2 += -16\nr3 = 16\ncall 104\n" + END),
    ("cgroup/sysctl", "sysctl_set_new_value_ok",
     "r6 = r1\n" + BUF + "r1 = r6\nr3 = 16\ncall 104\n" + END),
    ("cgroup/sysctl", "sysctl_strtoul_ok",
     "r6 = r1\n" + BUF + "r1 = r2\nr2 = 16\nr3 = 0\nr4 = r10\nr4 += -24\ncall 106\n" + END),
    ("cgroup/sysctl", "sysctl_ret_unknown", "r0 = *(u32 *)(r1 + 4)\nexit\n"),
]
