/*
 * access_read.c - reading requests: one by id, and the pages of a list
 * (see access.h).  Each request is shown only to those who may see it
 * (jg_access_may_see); a page examines a bounded number of rows.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jitgate/error.h"
#include "jitgate/parse.h"
#include "access_int.h"

#define MAX_LIST 200

/* ---- reads -------------------------------------------------------------------------- */

int
jg_access_get(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
	      const char *id, json_t **out, char *why, size_t whylen)
{
	struct jg_store_conn *conn;
	struct req r;
	int rc;

	*out = NULL;
	if (jg_store_acquire(ctx->store, &conn) != 0)
		return jg_errf(why, whylen, JG_EUNAVAIL, "the store is unavailable");
	rc = jg_access_req_load(conn, id, &r);
	if (rc == 0 && jg_access_may_see(ctx, &r, caller))
		*out = jg_access_req_json(conn, &r);
	else if (rc == 0 || rc == JG_ENOTFOUND)
		rc = jg_errf(why, whylen, JG_ENOTFOUND, "no such request");
	else
		rc = jg_errf(why, whylen, JG_EUNAVAIL, "the store is unavailable");
	jg_access_req_clear(&r);
	jg_store_release(ctx->store, conn);
	return rc;
}

int
jg_access_get_extended(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
		       const char *id, json_t **out, char *why, size_t whylen)
{
	struct jg_store_conn *conn;
	struct req e, g;
	int rc;

	*out = NULL;
	if (jg_store_acquire(ctx->store, &conn) != 0)
		return jg_errf(why, whylen, JG_EUNAVAIL, "the store is unavailable");
	rc = jg_access_req_load(conn, id, &e);
	if (rc == 0 && (!jg_access_may_see(ctx, &e, caller) || e.extends[0] == '\0'))
		rc = JG_ENOTFOUND;
	/* who may judge an extension may read the grant it would lengthen */
	if (rc == 0 && (rc = jg_access_req_load(conn, e.extends, &g)) == 0) {
		*out = jg_access_req_json(conn, &g);
		jg_access_req_clear(&g);
		rc = *out ? 0 : JG_ENOMEM;
	}
	if (rc == JG_ENOTFOUND)
		rc = jg_errf(why, whylen, rc, "no such extension");
	else if (rc != 0)
		rc = jg_errf(why, whylen, JG_EUNAVAIL, "the store is unavailable");
	jg_access_req_clear(&e);
	jg_store_release(ctx->store, conn);
	return rc;
}

/* A page's position, sealed as a "requests" cursor: "<created_at> <id>" of the last row examined.
 */
#define CURSOR_KIND "requests"

int
jg_access_page_open(const struct jg_cursor_keys *keys, size_t limit, const char *cursor,
		    struct jg_access_page *page)
{
	char plain[JG_CURSOR_MAX_PLAIN + 1];
	int64_t at;

	memset(page, 0, sizeof(*page));
	if (limit == 0 || limit > JG_ACCESS_PAGE_MAX)
		return JG_EINVAL;
	page->limit = limit;
	if (cursor == NULL)
		return 0;
	if (jg_cursor_open(keys, CURSOR_KIND, cursor, plain, sizeof(plain)) != 0)
		return JG_EINVAL;
	const char *space = strchr(plain, ' ');
	if (space == NULL ||
	    jg_parse_i64n(plain, (size_t)(space - plain), INT64_MIN, INT64_MAX, &at) != 0 ||
	    strlen(space + 1) == 0 || strlen(space + 1) >= sizeof(page->after_id))
		return JG_EINVAL;
	page->after_at = at;
	snprintf(page->after_id, sizeof(page->after_id), "%s", space + 1);
	return 0;
}

int
jg_access_page_next(const struct jg_cursor_keys *keys, const struct jg_access_page *page,
		    char out[JG_CURSOR_MAX_LEN])
{
	char plain[JG_CURSOR_MAX_PLAIN + 1];
	snprintf(plain, sizeof(plain), "%" PRId64 " %s", page->next_at, page->next_id);
	return jg_cursor_seal(keys, CURSOR_KIND, plain, out, JG_CURSOR_MAX_LEN);
}

static const char sql_list[] =
    "SELECT id, requester, service, state, capabilities, decision, requester_groups, duration, "
    "created_at, pending_until, approved_at, expires_at, ended_at, break_glass, justification, "
    "incident, end_reason, ended_by, reviewed_by, reviewed_at, review_note "
    "FROM access_requests WHERE (CAST(? AS TEXT) IS NULL OR state = ?) "
    "AND (CAST(? AS TEXT) IS NULL OR requester = ?) "
    "AND (? = 0 OR (break_glass = 1 AND reviewed_at IS NULL)) "
    "AND (? = '' OR created_at < ? OR (created_at = ? AND id > ?)) "
    "ORDER BY created_at DESC, id LIMIT ?";

/* Whether the caller's approval is still wanted by r: it would count for more (see approve). */
static int
awaits(struct jg_store_conn *conn, const struct req *r, const struct jg_access_caller *c)
{
	uint32_t mine;
	struct tally t;
	int wanted = 0, before;

	if (strcmp(r->state, "pending") != 0 || strcmp(r->requester, c->sub) == 0 ||
	    (mine = jg_access_eligibility(r, c)) == 0)
		return 0;
	if (jg_access_tally_load(conn, r, 1, &t) != 0)
		return 0;
	for (size_t p = 0; p < t.n; p++)
		if (strcmp(t.who[p], c->sub) == 0)
			goto out; /* approved already */
	if (jg_access_tally_run(&t) != 0)
		goto out;
	before = t.m.total;
	if (jg_access_tally_add(&t, c->sub, 0, mine) == 0 && jg_access_tally_run(&t) == 0)
		wanted = t.m.total > before;
out:
	jg_access_tally_free(&t);
	return wanted;
}

int
jg_access_list(const struct jg_access_ctx *ctx, const struct jg_access_caller *caller,
	       const struct jg_access_filter *f, json_t **out, char *why, size_t whylen)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	json_t *list = json_array();
	int rc;

	*out = NULL;
	if (f->state && strcmp(f->state, "pending") != 0 && strcmp(f->state, "active") != 0 &&
	    strcmp(f->state, "scheduled") != 0 && strcmp(f->state, "denied") != 0 &&
	    strcmp(f->state, "cancelled") != 0 && strcmp(f->state, "expired") != 0 &&
	    strcmp(f->state, "revoked") != 0 && strcmp(f->state, "granted") != 0) {
		json_decref(list);
		return jg_errf(why, whylen, JG_EINVAL,
			       "'state' must be pending, scheduled, active, granted, denied, "
			       "cancelled, expired or revoked");
	}
	if (jg_store_acquire(ctx->store, &conn) != 0) {
		json_decref(list);
		return jg_errf(why, whylen, JG_EUNAVAIL, "the store is unavailable");
	}
	/* ids first, then each rendered: rendering reads approvals on the same connection */
	struct jg_access_page *pg = f->page;
	size_t limit = pg && pg->limit > 0 && pg->limit < MAX_LIST ? pg->limit : MAX_LIST;
	const char *after = pg ? pg->after_id : "";
	char(*ids)[64] = calloc(JG_ACCESS_PAGE_SCAN, sizeof(*ids));
	int64_t *ats = calloc(JG_ACCESS_PAGE_SCAN, sizeof(*ats));
	size_t nids = 0, used = 0;
	if (pg)
		pg->more = 0;
	if (ids == NULL || ats == NULL) {
		free(ids);
		free(ats);
		rc = JG_ENOMEM;
		goto out;
	}
	if ((rc = jg_stmt_prepare(conn, sql_list, &st)) != 0) {
		free(ids);
		free(ats);
		goto out;
	}
	jg_stmt_bind_text(st, 1, f->state);
	jg_stmt_bind_text(st, 2, f->state);
	jg_stmt_bind_text(st, 3, f->mine ? caller->sub : NULL);
	jg_stmt_bind_text(st, 4, f->mine ? caller->sub : NULL);
	jg_stmt_bind_int64(st, 5, f->review);
	jg_stmt_bind_text(st, 6, after);
	jg_stmt_bind_int64(st, 7, pg ? pg->after_at : 0);
	jg_stmt_bind_int64(st, 8, pg ? pg->after_at : 0);
	jg_stmt_bind_text(st, 9, after);
	jg_stmt_bind_int64(st, 10, JG_ACCESS_PAGE_SCAN);
	while (nids < JG_ACCESS_PAGE_SCAN && jg_stmt_step(st) == JG_STMT_ROW) {
		jg_access_text_col(st, 0, ids[nids], 64);
		ats[nids++] = jg_stmt_column_int64(st, 8);
	}
	jg_stmt_finish(st);
	for (; used < nids && json_array_size(list) < limit; used++) {
		struct req r;
		size_t i = used;
		if (jg_access_req_load(conn, ids[i], &r) != 0)
			continue;
		int show = jg_access_may_see(ctx, &r, caller);
		if (show && f->awaiting)
			show = awaits(conn, &r, caller);
		if (show && f->review)
			show = caller->is_admin || caller->is_auditor ||
			       jg_access_can_review(ctx, &r, caller);
		if (show)
			json_array_append_new(list, jg_access_req_json(conn, &r));
		jg_access_req_clear(&r);
	}
	/* more follow when rows were left unexamined, or the scan stopped at its budget */
	if (pg && used > 0 && (used < nids || nids == JG_ACCESS_PAGE_SCAN)) {
		pg->more = 1;
		pg->next_at = ats[used - 1];
		snprintf(pg->next_id, sizeof(pg->next_id), "%s", ids[used - 1]);
	}
	free(ids);
	free(ats);
	rc = 0;
out:
	jg_store_release(ctx->store, conn);
	if (rc != 0) {
		json_decref(list);
		return jg_errf(why, whylen, JG_EUNAVAIL, "the store is unavailable");
	}
	*out = json_pack("{s:o}", "requests", list);
	return 0;
}
