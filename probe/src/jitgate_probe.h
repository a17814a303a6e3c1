/*
 * jitgate_probe.h - what the BPF program (probe/bpf/jitgate_probe.bpf.c)
 * and the daemon (probe/src/probe.c) share: the per-attachment
 * configuration, the counters and the event record.  Plain fixed-size
 * types so that both sides see one layout (the BPF side includes it after
 * vmlinux.h, the daemon after <stdint.h>).
 */
#ifndef JITGATE_PROBE_H
#define JITGATE_PROBE_H

#define JP_MAX_SLOTS 64	 /* probes attached at once; the BPF cookie is the slot */
#define JP_MAX_ARGS  6	 /* rdi rsi rdx rcx r8 r9: the SysV integer registers */
#define JP_MAX_STR   256 /* bytes of a captured string, whatever max_string_bytes says */
#define JP_STR_BUF   (JP_MAX_STR + 2)
#define JP_MAX_CONDS 4 /* conditions a probe may carry */

enum jp_type { JP_NONE = 0, JP_I64, JP_U64, JP_PTR, JP_STR };
enum jp_op { JP_EQ = 1, JP_NE, JP_GT, JP_GE, JP_LT, JP_LE };

struct jp_cond {
	__u32 arg; /* index into the args (0-5), which must be declared */
	__u32 op;  /* enum jp_op; a string argument knows only JP_EQ */
	__u64 value;
	char str[JP_STR_BUF]; /* for a string argument: the value, NUL-terminated */
};

struct jp_config {
	__u32 active;
	__u32 capture_return;	 /* join the entry to its return (uretprobe) */
	__u32 type[JP_MAX_ARGS]; /* enum jp_type by argument index; JP_NONE: not read */
	__u32 str_max;		 /* bytes kept of a string, 1..JP_MAX_STR */
	__u32 ncond;
	__u32 sample;	/* capture when bpf_get_prandom_u32() <= sample (0xffffffff: all) */
	__u32 rate;	/* events a second (a one-second window) */
	__u64 max_hits; /* events in all */
	struct jp_cond cond[JP_MAX_CONDS];
};

/* Per slot, only ever added to (atomically) by the BPF side; the daemon resets a slot it reuses. */
struct jp_counters {
	__u64 entries; /* entry traps (every call of the function) */
	__u64 returns; /* return traps */
	__u64 matched; /* calls whose conditions held */
	__u64 sampled; /* of them, sampled */
	__u64 skipped_rate;
	__u64 hits;	 /* events taken (never above max_hits) */
	__u64 drops;	 /* events lost: ring buffer full, or the return map full */
	__u64 window;	 /* the rate's current second (ktime) */
	__u64 in_window; /* events in that second */
};

#define JP_EV_RETURN  0x1   /* ret is set */
#define JP_EV_STR_CUT 0x100 /* << arg index: that string was cut */

struct jp_event {
	__u32 slot;
	__u32 flags;
	__u64 ts_ns; /* CLOCK_REALTIME-free: bpf_ktime_get_boot_ns() at entry */
	__u64 pid_tgid;
	__u64 ret;
	__u64 val[JP_MAX_ARGS];
	__s32 slen[JP_MAX_ARGS]; /* bytes of str[i] (no NUL), -1: unreadable */
	char str[JP_MAX_ARGS][JP_STR_BUF];
};

#endif
