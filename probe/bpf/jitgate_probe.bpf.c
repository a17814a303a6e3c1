// SPDX-License-Identifier: GPL-2.0
/*
 * jitgate_probe.bpf.c - the one generic BPF program of jitgate-probe
 * (docs/agents.md, "jitgate-probe").  Compiled once at build time with
 * clang -target bpf; the daemon loads it through its bpftool skeleton and
 * attaches it as a uprobe (and a uretprobe when the return is captured) to
 * each probed function, the slot of the probe's configuration as the BPF
 * cookie.  Per call: count the trap, read the declared arguments from the
 * x86-64 SysV registers, evaluate the conditions, sample, apply the rate
 * and max_hits, and send the event through the ring buffer (or keep it
 * for the return, keyed by thread).  Built with its own flags, not the
 * daemon's: it is not part of make lint's C files (see the Makefile).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "jitgate_probe.h"

char LICENSE[] SEC("license") = "GPL"; /* bpf_probe_read_user_str is GPL-only */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, JP_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct jp_config);
} jp_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, JP_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct jp_counters);
} jp_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} jp_events SEC(".maps");

/* An event being built: too large for the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct jp_event);
} jp_scratch SEC(".maps");

/* Entries waiting for their return: keyed by thread and slot. */
struct pending_key {
	__u64 pid_tgid;
	__u32 slot;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pending_key);
	__type(value, struct jp_event);
} jp_pending SEC(".maps");

static __always_inline int
int_holds(__u32 type, __u32 op, __u64 a, __u64 b)
{
	if (type == JP_I64) {
		__s64 x = (__s64)a, y = (__s64)b;
		switch (op) {
		case JP_EQ:
			return x == y;
		case JP_NE:
			return x != y;
		case JP_GT:
			return x > y;
		case JP_GE:
			return x >= y;
		case JP_LT:
			return x < y;
		case JP_LE:
			return x <= y;
		}
		return 0;
	}
	switch (op) {
	case JP_EQ:
		return a == b;
	case JP_NE:
		return a != b;
	case JP_GT:
		return a > b;
	case JP_GE:
		return a >= b;
	case JP_LT:
		return a < b;
	case JP_LE:
		return a <= b;
	}
	return 0;
}

/* String eq: the copied (uncut) argument and the value, byte for byte up to the value's NUL. */
static __always_inline int
str_eq(const struct jp_event *ev, __u32 a, const struct jp_cond *c)
{
	if (ev->slen[a] < 0 || (ev->flags & (JP_EV_STR_CUT << a)))
		return 0;
	for (int j = 0; j < JP_STR_BUF; j++) {
		if (ev->str[a][j] != c->str[j])
			return 0;
		if (c->str[j] == '\0')
			return 1;
	}
	return 0;
}

/* The rate: at most cfg->rate events in each second of ktime (a fixed window). */
static __always_inline int
rate_take(struct jp_counters *k, __u32 rate)
{
	__u64 sec = bpf_ktime_get_ns() / 1000000000ULL;
	__u64 w = k->window;

	if (w != sec && __sync_val_compare_and_swap(&k->window, w, sec) == w)
		k->in_window = 0; /* this CPU opened the new second */
	if (__sync_fetch_and_add(&k->in_window, 1) >= rate)
		return 0;
	return 1;
}

SEC("uprobe")
int
jp_entry(struct pt_regs *ctx)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx), zero = 0;
	struct jp_config *cfg = bpf_map_lookup_elem(&jp_cfg, &slot);
	struct jp_counters *k = bpf_map_lookup_elem(&jp_counters, &slot);
	struct jp_event *ev;

	if (cfg == NULL || k == NULL)
		return 0;
	__sync_fetch_and_add(&k->entries, 1);
	if (!cfg->active || (ev = bpf_map_lookup_elem(&jp_scratch, &zero)) == NULL)
		return 0;
	ev->slot = slot;
	ev->flags = 0;
	ev->ts_ns = bpf_ktime_get_boot_ns();
	ev->pid_tgid = bpf_get_current_pid_tgid();
	ev->ret = 0;
	__u32 max = cfg->str_max;
	if (max < 1 || max > JP_MAX_STR)
		max = JP_MAX_STR;
	/*
	 * The six registers, each read at a constant offset of the context (the
	 * verifier refuses a context pointer moved by a variable index).
	 */
	ev->val[0] = PT_REGS_PARM1(ctx);
	ev->val[1] = PT_REGS_PARM2(ctx);
	ev->val[2] = PT_REGS_PARM3(ctx);
	ev->val[3] = PT_REGS_PARM4(ctx);
	ev->val[4] = PT_REGS_PARM5(ctx);
	ev->val[5] = ctx->r9; /* libbpf 1.1 has no PT_REGS_PARM6 */
	for (__u32 i = 0; i < JP_MAX_ARGS; i++) {
		__u32 t = cfg->type[i];
		ev->slen[i] = 0;
		if (t == JP_NONE) {
			ev->val[i] = 0;
			continue;
		}
		__u64 v = ev->val[i];
		if (t != JP_STR)
			continue;
		/* max + 2 bytes: max kept, one more tells a cut, one for the NUL */
		long n = bpf_probe_read_user_str(ev->str[i], max + 2, (const void *)v);
		if (n <= 0) {
			ev->slen[i] = -1;
			ev->str[i][0] = '\0';
			continue;
		}
		n -= 1; /* the NUL */
		if (n > max) {
			ev->flags |= JP_EV_STR_CUT << i;
			n = max;
		}
		ev->slen[i] = (__s32)n;
	}
	for (__u32 c = 0; c < JP_MAX_CONDS; c++) {
		if (c >= cfg->ncond)
			break;
		struct jp_cond *cd = &cfg->cond[c];
		__u32 a = cd->arg;
		if (a >= JP_MAX_ARGS)
			return 0;
		__u32 t = cfg->type[a];
		if (t == JP_STR) {
			/* a cut string is compared as read: the value is at most str_max bytes */
			__u32 cut = ev->flags & (JP_EV_STR_CUT << a);
			ev->flags &= ~cut;
			int ok = cd->op == JP_EQ && str_eq(ev, a, cd);
			ev->flags |= cut;
			if (!ok)
				return 0;
		} else if (t == JP_NONE || !int_holds(t, cd->op, ev->val[a], cd->value)) {
			return 0;
		}
	}
	__sync_fetch_and_add(&k->matched, 1);
	if (cfg->sample != 0xffffffffU && bpf_get_prandom_u32() > cfg->sample)
		return 0;
	__sync_fetch_and_add(&k->sampled, 1);
	if (!rate_take(k, cfg->rate)) {
		__sync_fetch_and_add(&k->skipped_rate, 1);
		return 0;
	}
	if (__sync_fetch_and_add(&k->hits, 1) >= cfg->max_hits) {
		__sync_fetch_and_add(&k->hits, -1);
		return 0;
	}
	/* the hit is taken: from here a lost event is a drop */
	if (cfg->capture_return) {
		struct pending_key pk = {.pid_tgid = ev->pid_tgid, .slot = slot};
		if (bpf_map_update_elem(&jp_pending, &pk, ev, BPF_ANY) != 0)
			__sync_fetch_and_add(&k->drops, 1);
		return 0;
	}
	if (bpf_ringbuf_output(&jp_events, ev, sizeof(*ev), 0) != 0)
		__sync_fetch_and_add(&k->drops, 1);
	return 0;
}

SEC("uretprobe")
int
jp_return(struct pt_regs *ctx)
{
	__u32 slot = (__u32)bpf_get_attach_cookie(ctx);
	struct jp_counters *k = bpf_map_lookup_elem(&jp_counters, &slot);
	struct pending_key pk = {.pid_tgid = bpf_get_current_pid_tgid(), .slot = slot};
	struct jp_event *ev;

	if (k == NULL)
		return 0;
	__sync_fetch_and_add(&k->returns, 1);
	ev = bpf_map_lookup_elem(&jp_pending, &pk);
	if (ev == NULL)
		return 0;
	ev->ret = PT_REGS_RC(ctx);
	ev->flags |= JP_EV_RETURN;
	if (bpf_ringbuf_output(&jp_events, ev, sizeof(*ev), 0) != 0)
		__sync_fetch_and_add(&k->drops, 1);
	bpf_map_delete_elem(&jp_pending, &pk);
	return 0;
}
