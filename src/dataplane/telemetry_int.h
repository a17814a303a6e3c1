/*
 * telemetry_int.h - what the files of the telemetry module share (not a
 * public interface: other modules use include/jitgate/telemetry.h):
 *
 *   telemetry.c            open and migrate the telemetry database
 *   telemetry_text.c       redaction of records and spans, the search text
 *   telemetry_store.c      storing a converted batch in one transaction
 *   telemetry_retention.c  retention sweeps and the sweeper thread
 *   telemetry_time.c       query times and durations
 */
#ifndef JITGATE_TELEMETRY_INT_H
#define JITGATE_TELEMETRY_INT_H

#include "jitgate/error.h"
#include "jitgate/store.h"
#include "jitgate/telemetry.h"

/* Steps a statement that returns no row and finishes it: 0 or JG_ESTORE. */
static inline int
jg_telemetry_step_done(struct jg_stmt *st)
{
	int rc = jg_stmt_step(st);
	jg_stmt_finish(st);
	return rc == JG_STMT_DONE ? 0 : JG_ESTORE;
}

#endif
