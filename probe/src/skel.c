/*
 * skel.c - the one file that includes the bpftool skeleton of
 * probe/bpf/jitgate_probe.bpf.c (generated into $(BUILD)/probe): it loads
 * the program and hands probe.c the maps and programs it uses.  Kept apart
 * because clang-tidy's analyzer reports a leak inside the generated
 * jitgate_probe__create_skeleton() (it cannot see that
 * bpf_object__destroy_skeleton() frees it); the Makefile leaves this file,
 * and only it, out of lint-tidy for that reason.
 */
#include <stddef.h>

#include <bpf/libbpf.h>

#include "jitgate_probe.skel.h"
#include "skel.h"

static struct jitgate_probe *skel;

int
jp_bpf_load(struct jp_bpf *out)
{
	if ((skel = jitgate_probe__open_and_load()) == NULL)
		return -1;
	out->cfg = skel->maps.jp_cfg;
	out->counters = skel->maps.jp_counters;
	out->events = skel->maps.jp_events;
	out->entry = skel->progs.jp_entry;
	out->ret = skel->progs.jp_return;
	return 0;
}

void
jp_bpf_unload(void)
{
	jitgate_probe__destroy(skel);
	skel = NULL;
}
