/*
 * probes.h - dynamic probes (docs/api.md) and the events agents capture
 * for them (docs/agents.md).  probes.c owns the probes and probe_events
 * tables.
 */
#ifndef JITGATE_PROBES_H
#define JITGATE_PROBES_H

#include <stdint.h>

#include "jitgate/store.h"

/*
 * Deletes captured probe events received before `before` (Unix seconds), in
 * batches so no write holds the database for long; *deleted counts them.
 */
int jg_probe_events_sweep(struct jg_store *store, int64_t before, int64_t *deleted);

#endif
