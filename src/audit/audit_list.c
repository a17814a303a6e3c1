/*
 * audit_list.c - a filtered, paged listing of the audit log for auditors
 * (GET /v1/audit/entries and the audit page).
 *
 * It reads entries newest first with the filters applied to the stored
 * bytes themselves, by each engine's JSON functions (SQLite's json_extract,
 * PostgreSQL's jsonb operators: the only per-engine statement of the audit
 * log's reads).  Filtering the hashed bytes, not columns copied beside
 * them, means an entry cannot be hidden from a filtered listing by editing
 * something the chain does not cover.  Nothing here is verified (the proofs
 * and the export are what an auditor checks), and a filter that matches few
 * entries of a long log scans it: the page size bounds the reply, not the
 * scan.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/audit.h"
#include "jitgate/error.h"

static const char sql_list[] =
    "SELECT seq, entry FROM audit_log WHERE seq < ?1 "
    "AND (?2 IS NULL OR json_extract(CAST(entry AS TEXT), '$.type') = ?2) "
    "AND (?3 IS NULL OR json_extract(CAST(entry AS TEXT), '$.actor') = ?3) "
    "AND (?4 IS NULL OR json_extract(CAST(entry AS TEXT), '$.data.service') = ?4) "
    "AND (?5 = 0 OR json_extract(CAST(entry AS TEXT), '$.ts') >= ?5) "
    "AND (?6 = 0 OR json_extract(CAST(entry AS TEXT), '$.ts') <= ?6) "
    "ORDER BY seq DESC LIMIT ?7";
/* The same on PostgreSQL: the entry's bytes (UTF-8 JSON) as jsonb. */
static const char sql_list_pg[] =
    "SELECT seq, entry FROM audit_log WHERE seq < ?1 "
    "AND (CAST(?2 AS TEXT) IS NULL OR convert_from(entry, 'UTF8')::jsonb ->> 'type' = ?2) "
    "AND (CAST(?3 AS TEXT) IS NULL OR convert_from(entry, 'UTF8')::jsonb ->> 'actor' = ?3) "
    "AND (CAST(?4 AS TEXT) IS NULL OR "
    "convert_from(entry, 'UTF8')::jsonb #>> '{data,service}' = ?4) "
    "AND (?5 = 0 OR (convert_from(entry, 'UTF8')::jsonb ->> 'ts')::bigint >= ?5) "
    "AND (?6 = 0 OR (convert_from(entry, 'UTF8')::jsonb ->> 'ts')::bigint <= ?6) "
    "ORDER BY seq DESC LIMIT ?7";

int
jg_audit_list(struct jg_store *store, const struct jg_audit_filter *f, json_t **out)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	json_t *entries;
	int rc, n = 0;
	int64_t last = -1;

	*out = NULL;
	if (f->limit < 1 || f->limit > JG_AUDIT_LIST_MAX || f->since_ms < 0 || f->until_ms < 0)
		return JG_EINVAL;
	if ((entries = json_array()) == NULL)
		return JG_ENOMEM;
	if (jg_store_acquire(store, &conn) != 0) {
		json_decref(entries);
		return JG_ESTORE;
	}
	if (jg_stmt_prepare(
		conn, jg_store_conn_engine(conn) == JG_STORE_POSTGRES ? sql_list_pg : sql_list,
		&st) != 0) {
		rc = JG_ESTORE;
		goto out;
	}
	jg_stmt_bind_int64(st, 1, f->before > INT64_MAX ? INT64_MAX : (int64_t)f->before);
	jg_stmt_bind_text(st, 2, f->type);
	jg_stmt_bind_text(st, 3, f->actor);
	jg_stmt_bind_text(st, 4, f->service);
	jg_stmt_bind_int64(st, 5, f->since_ms);
	jg_stmt_bind_int64(st, 6, f->until_ms);
	jg_stmt_bind_int64(st, 7, f->limit);
	while ((rc = jg_stmt_step(st)) == JG_STMT_ROW) {
		size_t len;
		const void *bytes = jg_stmt_column_blob(st, 1, &len);
		json_t *entry = bytes ? json_loadb(bytes, len, 0, NULL) : NULL;
		last = jg_stmt_column_int64(st, 0);
		json_array_append_new(entries, json_pack("{s:I,s:o}", "seq", (json_int_t)last,
							 "entry", entry ? entry : json_null()));
		n++;
	}
	jg_stmt_finish(st);
	if (rc != JG_STMT_DONE) {
		rc = JG_ESTORE;
		goto out;
	}
	/* a full page may have more behind it; an empty or short page has none */
	*out = json_pack("{s:O,s:o}", "entries", entries, "next_before",
			 n == f->limit && last > 0 ? json_integer(last) : json_null());
	rc = *out ? 0 : JG_ENOMEM;
out:
	json_decref(entries);
	jg_store_release(store, conn);
	return rc;
}
