/*
 * access_grant.c - grants as the rest of jitgate reads them (see access.h,
 * "Grants").
 *
 * A grant is an access_requests row in state 'active' whose expires_at is
 * still ahead.  The token issuer, the guard and the probes ask through
 * these functions instead of reading the table, so the rule of what makes a
 * grant usable is written once, here, next to the lifecycle that writes
 * the rows.  Each is one primary-key lookup on the caller's connection (in
 * the caller's transaction when one is open).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jitgate/access.h"
#include "jitgate/error.h"
#include "jitgate/session.h"
#include "access_int.h"

#define GRANT_COLS                                                                                 \
	"SELECT state, expires_at, requester, service, capabilities, probe_max_probes, "           \
	"probe_max_hits, probe_max_bytes FROM access_requests WHERE id = ?"
static const char sql_grant[] = GRANT_COLS;

/* The capabilities of a row (a JSON array of names); none when they cannot be read. */
static void
caps_of(const char *text, struct jg_access_grant *g)
{
	json_t *a = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
	size_t i;
	json_t *v;

	g->ncaps = 0;
	json_array_foreach(a, i, v)
	{
		const char *s = json_string_value(v);
		if (s == NULL || strlen(s) >= sizeof(g->caps[0]) || i >= JG_ACCESS_GRANT_CAPS) {
			g->ncaps = 0; /* all or none: a part could grant what was not meant */
			break;
		}
		snprintf(g->caps[g->ncaps++], sizeof(g->caps[0]), "%s", s);
	}
	json_decref(a);
}

/* The same query for a read batch: its own literal, so its statement is its own. */
static const char sql_grant_batched[] = GRANT_COLS " ";

/* The grant row st steps to (prepared and bound) into *g; as grant_read.  Finishes nothing. */
static int
grant_row(struct jg_stmt *st, int64_t now, struct jg_access_grant *g, bool *active)
{
	int rc = jg_stmt_step(st);

	memset(g, 0, sizeof(*g));
	*active = false;
	if (rc == JG_STMT_ROW) {
		const char *state = jg_stmt_column_text(st, 0);
		const char *requester = jg_stmt_column_text(st, 2);
		const char *service = jg_stmt_column_text(st, 3);
		g->expires_at = jg_stmt_column_int64(st, 1);
		snprintf(g->requester, sizeof(g->requester), "%s", requester ? requester : "");
		snprintf(g->service, sizeof(g->service), "%s", service ? service : "");
		caps_of(jg_stmt_column_text(st, 4), g);
		/* NULL reads as 0: nothing bounds that member */
		g->probe_budget.max_probes = jg_stmt_column_int64(st, 5);
		g->probe_budget.max_hits = jg_stmt_column_int64(st, 6);
		g->probe_budget.max_bytes = jg_stmt_column_int64(st, 7);
		*active = state != NULL && strcmp(state, "active") == 0 && g->expires_at > now;
		return 0;
	}
	return rc == JG_STMT_DONE ? JG_ENOTFOUND : JG_ESTORE;
}

/* Reads grant into *g; *active: state active and expires_at > now.  0, JG_ENOTFOUND, JG_ESTORE. */
static int
grant_read(struct jg_store_conn *conn, const char *grant, int64_t now, struct jg_access_grant *g,
	   bool *active)
{
	struct jg_stmt *st;
	int rc;

	memset(g, 0, sizeof(*g));
	*active = false;
	if (jg_stmt_prepare(conn, sql_grant, &st) != 0)
		return JG_ESTORE;
	jg_stmt_bind_text(st, 1, grant);
	rc = grant_row(st, now, g, active);
	jg_stmt_finish(st);
	return rc;
}

/* The verdict of jg_access_grant_check on a row read (rc: grant_read's). */
static int
grant_verdict(int rc, bool active, const char *sub, const char *service,
	      const struct jg_access_grant *g)
{
	if (rc == JG_ENOTFOUND)
		return JG_EDENIED;
	if (rc != 0)
		return rc;
	return active && strcmp(g->requester, sub) == 0 && strcmp(g->service, service) == 0
		   ? 0
		   : JG_EDENIED;
}

int
jg_access_grant_check(struct jg_store_conn *conn, const char *grant, const char *sub,
		      const char *service, int64_t now, struct jg_access_grant *out)
{
	bool active;
	int rc = grant_read(conn, grant, now, out, &active);

	return grant_verdict(rc, active, sub, service, out);
}

int
jg_access_grant_check_queue(struct jg_store_batch *b, const char *grant, size_t *slot)
{
	struct jg_stmt *st;
	int rc = jg_store_batch_prepare(b, sql_grant_batched, &st, slot);

	if (rc == 0 && (rc = jg_stmt_bind_text(st, 1, grant)) != 0)
		b->rc = rc; /* the batch fails whole: nothing half-bound is sent */
	return rc;
}

int
jg_access_grant_check_take(struct jg_store_batch *b, size_t slot, const char *sub,
			   const char *service, int64_t now, struct jg_access_grant *out)
{
	struct jg_stmt *st;
	bool active = false;
	int rc = jg_store_batch_take(b, slot, &st);

	memset(out, 0, sizeof(*out));
	if (rc != 0)
		return rc == JG_EUNAVAIL ? JG_EUNAVAIL : JG_ESTORE; /* never a verdict */
	rc = grant_row(st, now, out, &active);
	return grant_verdict(rc, active, sub, service, out);
}

int
jg_access_grant_for_token(struct jg_store_conn *conn, const char *grant, const char *sub,
			  int64_t now, struct jg_access_grant *out)
{
	bool active;
	int rc = grant_read(conn, grant, now, out, &active);

	if (rc != 0)
		return rc;
	if (strcmp(out->requester, sub) != 0)
		return JG_ENOTFOUND; /* someone else's grant: as if it did not exist */
	return active ? 0 : JG_ECONFLICT;
}

int
jg_access_grant_live(struct jg_store_conn *conn, const char *grant, int64_t now, bool *live)
{
	struct jg_access_grant g;
	int rc = grant_read(conn, grant, now, &g, live);

	return rc == JG_ENOTFOUND ? 0 : rc;
}

int
jg_access_grant_qualifies(struct jg_store_conn *conn, const struct jg_policy_set *set,
			  const char *grant, const char *const *groups, size_t ngroups, char *why,
			  size_t whylen)
{
	struct req r;
	json_t *g = json_array();
	int rc;

	for (size_t i = 0; g != NULL && i < ngroups; i++)
		if (json_array_append_new(g, json_string(groups[i])) != 0) {
			json_decref(g);
			g = NULL;
		}
	if (g == NULL)
		return JG_ENOMEM;
	rc = jg_access_req_load(conn, grant, &r);
	if (rc == 0)
		rc = jg_access_requalify_with(set, &r, g, why, whylen);
	if (rc == 0) {
		/*
		 * And with the newest groups seen for the holder: a login issued
		 * before a newer one that lost the group still carries it, and
		 * must not outvote the newer (session.h).
		 */
		json_t *newest = NULL;
		int64_t seen_at;
		rc = jg_identity_groups_latest(conn, r.requester, &newest, &seen_at);
		if (rc == 0)
			rc = jg_access_requalify_with(set, &r, newest, why, whylen);
		else if (rc == JG_ENOTFOUND)
			rc = 0; /* none recorded: the caller's groups are all there is */
		else
			rc = jg_errf(why, whylen, JG_EUNAVAIL, "the groups seen cannot be read");
		json_decref(newest);
	} else if (rc == JG_ENOTFOUND)
		rc = jg_errf(why, whylen, JG_EDENIED, "no such grant");
	jg_access_req_clear(&r);
	json_decref(g);
	return rc;
}

int
jg_access_grant_probe_budget(struct jg_store_conn *conn, const char *grant,
			     struct jg_policy_probe_budget *out)
{
	struct jg_access_grant g;
	bool active;
	int rc = grant_read(conn, grant, 0, &g, &active);

	memset(out, 0, sizeof(*out));
	if (rc == 0)
		*out = g.probe_budget;
	return rc;
}
