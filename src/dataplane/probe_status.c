/*
 * probe_status.c - where the probes of a service are installed, as its
 * agent instances report it (see probe_status.h).  Owner of the
 * probe_installs table.
 *
 * A report is written in one transaction: the instance's earlier rows for
 * its service deleted, then one upsert per listed probe that is the
 * service's (asked of probes.c, the owner of probes, one primary-key
 * lookup each).  Two reports of one instance racing on PostgreSQL (READ
 * COMMITTED) cannot fail: the second's delete skips the first's new rows
 * and its upserts take them over, so the union stands until the next
 * report.  The engineer's list reads two statements per list, not per
 * probe: the installed count per probe (GROUP BY) and the failed rows, both
 * of the service and since the caller's time, merged into the list by id.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/probe_status.h"
#include "jitgate/probes.h"
#include "jitgate/redact.h"
#include "jitgate/store.h"

bool
jg_probe_status_instance_valid(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e ||
		    n == JG_PROBE_STATUS_INSTANCE_MAX)
			return false;
	return n > 0;
}

bool
jg_probe_status_code_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= JG_PROBE_STATUS_CODE_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* ---- report ------------------------------------------------------------------ */

static const char sql_forget[] = "DELETE FROM probe_installs WHERE service = ? AND instance = ?";
/* the other instances of the service with rows now (the sweeper drops silent ones) */
static const char sql_instances[] = "SELECT count(DISTINCT instance) FROM probe_installs "
				    "WHERE service = ? AND instance <> ?";
static const char sql_upsert[] =
    "INSERT INTO probe_installs (probe_id, instance, service, state, code, message, seen_at, "
    "dropped) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (probe_id, instance) DO UPDATE SET "
    "service = excluded.service, state = excluded.state, code = excluded.code, "
    "message = excluded.message, seen_at = excluded.seen_at, dropped = excluded.dropped";

/*
 * One row of r (code NULL: installed, with dropped events lost), when id is
 * a probe of r's service.  0 or JG_ESTORE.
 */
static int
upsert(struct jg_store_conn *conn, const struct jg_probe_report *r, const char *id,
       const char *code, const char *message, int64_t dropped, int64_t now)
{
	struct jg_stmt *st;
	bool ours = false;
	int rc;

	if (!jg_probe_id_valid(id))
		return 0; /* names no probe */
	if ((rc = jg_probe_of_service(conn, r->service, id, &ours)) != 0)
		return rc;
	if (!ours)
		return 0; /* not this service's: nothing to learn from the answer */
	if (jg_stmt_prepare(conn, sql_upsert, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, id);
	jg_stmt_bind_text(st, 2, r->instance);
	jg_stmt_bind_text(st, 3, r->service);
	jg_stmt_bind_text(st, 4, code ? "failed" : "installed");
	if (code != NULL) {
		jg_stmt_bind_text(st, 5, code);
		jg_stmt_bind_text(st, 6, message ? message : "");
	} else {
		jg_stmt_bind_null(st, 5);
		jg_stmt_bind_null(st, 6);
	}
	jg_stmt_bind_int64(st, 7, now);
	jg_stmt_bind_int64(st, 8, dropped);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	return rc;
}

static int
report_tx(struct jg_store_conn *conn, const struct jg_probe_report *r, int64_t now)
{
	struct jg_stmt *st;
	int rc;

	/*
	 * A key of the service could otherwise report under any number of
	 * made-up instance names, each adding a row per live probe: the rows
	 * of a service stay within JG_PROBE_STATUS_INSTANCES_MAX instances
	 * times its live probes.
	 */
	if (jg_stmt_prepare(conn, sql_instances, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, r->service);
	jg_stmt_bind_text(st, 2, r->instance);
	int64_t others = jg_stmt_step(st) == JG_STMT_ROW ? jg_stmt_column_int64(st, 0) : -1;
	jg_stmt_finish(st);
	if (others < 0)
		return JG_ESTORE;
	if (others >= JG_PROBE_STATUS_INSTANCES_MAX)
		return JG_ECONFLICT;

	if (jg_stmt_prepare(conn, sql_forget, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, r->service);
	jg_stmt_bind_text(st, 2, r->instance);
	rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_ESTORE;
	jg_stmt_finish(st);
	/* installed first, so an id listed both ways ends failed */
	for (size_t i = 0; rc == 0 && i < r->ninstalled; i++)
		rc = upsert(conn, r, r->installed[i], NULL, NULL, r->dropped ? r->dropped[i] : 0,
			    now);
	for (size_t i = 0; rc == 0 && i < r->nfailed; i++)
		rc = upsert(conn, r, r->failed[i].id, r->failed[i].code, r->failed[i].message, 0,
			    now);
	return rc;
}

int
jg_probe_status_report(struct jg_store *s, const struct jg_probe_report *r, int64_t now)
{
	struct jg_store_conn *conn;
	int rc;

	if (r->ninstalled > JG_PROBE_STATUS_IDS_MAX || r->nfailed > JG_PROBE_STATUS_IDS_MAX ||
	    !jg_probe_status_instance_valid(r->instance))
		return JG_EINVAL;
	for (size_t i = 0; i < r->nfailed; i++)
		if (!jg_probe_status_code_valid(r->failed[i].code) ||
		    (r->failed[i].message != NULL &&
		     strlen(r->failed[i].message) > JG_PROBE_STATUS_MESSAGE_MAX))
			return JG_EINVAL;
	if (jg_store_acquire(s, &conn) != 0)
		return JG_EUNAVAIL;
	rc = jg_store_begin(conn);
	if (rc == 0)
		rc = report_tx(conn, r, now);
	if (rc == 0)
		rc = jg_store_commit(conn);
	else
		jg_store_rollback(conn);
	jg_store_release(s, conn);
	return rc == 0 || rc == JG_ECONFLICT ? rc : JG_EUNAVAIL;
}

/* ---- the engineer's list --------------------------------------------------------- */

static const char sql_installed[] =
    "SELECT probe_id, count(*), sum(dropped) FROM probe_installs "
    "WHERE service = ? AND state = 'installed' AND seen_at >= ? GROUP BY probe_id";
static const char sql_failed[] = "SELECT probe_id, instance, code, message FROM probe_installs "
				 "WHERE service = ? AND state = 'failed' AND seen_at >= ? "
				 "ORDER BY probe_id, instance";

/* Adds the status of each probe of list on conn (jg_probe_status_attach). */
static int
attach(struct jg_store_conn *conn, const char *service, int64_t since, json_t *list)
{
	struct jg_stmt *st;
	json_t *by_id = json_object(), *p;
	size_t i;
	int rc = 0, step = JG_STMT_DONE;

	if (by_id == NULL)
		return JG_ENOMEM;
	/* every probe of the list gets a status, reported or not */
	json_array_foreach(list, i, p)
	{
		const char *id = json_string_value(json_object_get(p, "id"));
		json_t *status =
		    json_pack("{s:i,s:i,s:[]}", "installed", 0, "dropped", 0, "failed");
		if (id == NULL || status == NULL || json_object_set(p, "status", status) != 0 ||
		    json_object_set_new(by_id, id, status) != 0) {
			json_decref(by_id);
			return JG_ENOMEM;
		}
	}
	if (json_object_size(by_id) == 0)
		goto out;
	if (jg_stmt_prepare(conn, sql_installed, &st) != 0) {
		rc = JG_EUNAVAIL;
		goto out;
	}
	jg_stmt_bind_text(st, 1, service);
	jg_stmt_bind_int64(st, 2, since);
	while ((step = jg_stmt_step(st)) == JG_STMT_ROW) {
		const char *id = jg_stmt_column_text(st, 0);
		json_t *status = id ? json_object_get(by_id, id) : NULL;
		if (status != NULL &&
		    (json_object_set_new(status, "installed",
					 json_integer((json_int_t)jg_stmt_column_int64(st, 1))) !=
			 0 ||
		     json_object_set_new(status, "dropped",
					 json_integer((json_int_t)jg_stmt_column_int64(st, 2))) !=
			 0))
			rc = JG_ENOMEM;
	}
	jg_stmt_finish(st);
	if (rc == 0 && step != JG_STMT_DONE)
		rc = JG_EUNAVAIL;
	if (rc != 0)
		goto out;
	if (jg_stmt_prepare(conn, sql_failed, &st) != 0) {
		rc = JG_EUNAVAIL;
		goto out;
	}
	jg_stmt_bind_text(st, 1, service);
	jg_stmt_bind_int64(st, 2, since);
	while (rc == 0 && (step = jg_stmt_step(st)) == JG_STMT_ROW) {
		const char *id = jg_stmt_column_text(st, 0);
		json_t *status = id ? json_object_get(by_id, id) : NULL;
		json_t *failed = json_object_get(status, "failed");
		const char *inst = jg_stmt_column_text(st, 1), *code = jg_stmt_column_text(st, 2),
			   *msg = jg_stmt_column_text(st, 3);
		if (!json_is_array(failed) ||
		    json_array_size(failed) >= JG_PROBE_STATUS_FAILED_SHOWN)
			continue; /* not listed, or enough shown */
		if (json_array_append_new(
			failed, json_pack("{s:s,s:s,s:s}", "instance", inst ? inst : "", "code",
					  code ? code : "", "message", msg ? msg : "")) != 0)
			rc = JG_ENOMEM;
	}
	jg_stmt_finish(st);
	if (rc == 0 && step != JG_STMT_DONE && step != JG_STMT_ROW)
		rc = JG_EUNAVAIL;
out:
	json_decref(by_id);
	return rc;
}

int
jg_probe_status_attach(struct jg_store *s, const char *service, int64_t since, bool redact,
		       char *const *fields, json_t *list)
{
	struct jg_store_conn *conn;
	size_t i, nf = 0;
	json_t *p;

	if (jg_store_acquire(s, &conn) != 0)
		return JG_EUNAVAIL;
	int rc = attach(conn, service, since, list);
	jg_store_release(s, conn);
	/*
	 * An agent's failure message is free text written in the service's
	 * process: a reader without read-pii gets it through the scanners, as
	 * any other text of the service (a half-redacted list is not shown).
	 */
	while (redact && fields && fields[nf])
		nf++;
	json_array_foreach(list, i, p)
	{
		json_t *failed = json_object_get(json_object_get(p, "status"), "failed");
		unsigned found = 0;
		if (redact && failed != NULL && rc == 0 &&
		    jg_redact_json(failed, (const char *const *)fields, nf, &found) != 0)
			rc = JG_ENOMEM;
	}
	return rc;
}

/* ---- sweep --------------------------------------------------------------------- */

static const char sql_sweep[] = "DELETE FROM probe_installs WHERE seen_at < ?";

int
jg_probe_status_sweep(struct jg_store *s, int64_t before, int64_t *deleted)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int rc = JG_EUNAVAIL;

	*deleted = 0;
	if (jg_store_acquire(s, &conn) != 0)
		return JG_EUNAVAIL;
	if (jg_stmt_prepare(conn, sql_sweep, &st) == 0) {
		jg_stmt_bind_int64(st, 1, before);
		rc = jg_stmt_step(st) == JG_STMT_DONE ? 0 : JG_EUNAVAIL;
		jg_stmt_finish(st);
		if (rc == 0)
			*deleted = jg_store_changes(conn);
	}
	jg_store_release(s, conn);
	return rc;
}

/* After probes (probe_id), as `jitgate store copy` moves it (store.h). */
static const struct jg_store_table status_tables[] = {
    JG_STORE_TABLE("probe_installs",
		   "probe_id, instance, service, state, code, message, seen_at, dropped",
		   "ttttttii", "probe_id, instance", "?, ?, ?, ?, ?, ?, ?, ?"),
};

const struct jg_store_table *
jg_probe_status_tables(size_t *n)
{
	*n = sizeof(status_tables) / sizeof(status_tables[0]);
	return status_tables;
}
