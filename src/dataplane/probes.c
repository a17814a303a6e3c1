/*
 * probes.c - dynamic probes and the events agents capture for them (see
 * probes.h).  Owner of the probes and probe_events tables.
 */
#include <stdint.h>

#include "jitgate/error.h"
#include "jitgate/probes.h"
#include "jitgate/store.h"

static const char sql_events_expire[] =
    "DELETE FROM probe_events WHERE id IN "
    "(SELECT id FROM probe_events WHERE received_at < ? ORDER BY received_at LIMIT 1000)";

int
jg_probe_events_sweep(struct jg_store *store, int64_t before, int64_t *deleted)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc, n;

	*deleted = 0;
	if ((rc = jg_store_acquire(store, &conn)) != 0)
		return rc;
	do { /* one short transaction per batch: ingest is never blocked for long */
		n = 0;
		if ((rc = jg_stmt_prepare(conn, sql_events_expire, &st)) != 0)
			break;
		jg_stmt_bind_int64(st, 1, before);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
		jg_stmt_finish(st);
		if (rc == 0) {
			n = jg_store_changes(conn);
			*deleted += n;
		}
	} while (rc == 0 && n == 1000);
	jg_store_release(store, conn);
	return rc;
}
