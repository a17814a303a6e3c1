/*
 * skel.h - the loaded BPF program of jitgate-probe (skel.c).
 */
#ifndef JITGATE_PROBE_SKEL_H
#define JITGATE_PROBE_SKEL_H

struct bpf_map;
struct bpf_program;

struct jp_bpf {
	struct bpf_map *cfg, *counters, *events;
	struct bpf_program *entry, *ret;
};

/* Loads the program into the kernel: 0, or -1 with errno set. */
int jp_bpf_load(struct jp_bpf *out);
/* Unloads it (every link must be destroyed first). */
void jp_bpf_unload(void);

#endif
