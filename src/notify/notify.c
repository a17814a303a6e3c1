/*
 * notify.c - routing, the outbox, delivery and the timer (see notify.h).
 *
 * Routing happens when an event is queued: each sink says which audiences
 * it serves (approvers, requester, security, operators) and may narrow that
 * to some policies, groups or event types; the event gets one outbox row
 * per sink that wants it, in the caller's transaction.
 *
 * Delivery: one thread per sink claims that sink's oldest due row, sends
 * it (libcurl, the sink's timeout, no redirects) and records the outcome: a
 * 2xx marks it delivered; anything else schedules the next attempt after
 * jg_backoff_ms(), or dead-letters it after max_attempts.  No store
 * connection is held while a receiver is being waited for.  Because the
 * outcome is written after the receiver answered, a crash in between sends
 * the row again with the same idempotency key: at-least-once.
 *
 * Every replica delivers, so a row is claimed before it is sent: one
 * statement counts the attempt (attempts + 1) and moves next_attempt_at a
 * lease ahead - the sink's timeout plus LEASE_MARGIN_MS - so no other
 * replica (nor this one) takes it while the attempt can still be running.
 * On PostgreSQL the row is picked with FOR UPDATE SKIP LOCKED, so replicas
 * claiming at the same moment take different rows instead of queueing on
 * one; on SQLite (one process) the oldest due row is read, then claimed
 * only if it still has the attempts it was read with.  The outcome is
 * recorded only while the row still carries this claim's attempt number
 * (a fencing token): an attempt that outlived its lease, whose row another
 * replica has taken meanwhile, changes nothing.  A replica that dies during
 * an attempt leaves its claim to expire: the row is sent again at the end
 * of the lease.  So there is one attempt at a time per row, and a
 * notification is sent twice only when an attempt's outcome was not
 * recorded (a crash, or a lease that ran out).
 *
 * The timer thread, every second: operator alerts (the audit log stopped
 * verifying; checkpoints not reaching an off-host sink) and, hourly, the
 * pruning of delivered rows.  The sink alerts and the pruning run on the
 * replica that leads "notify-timer" (jg_store_leader), so that several
 * replicas send one alert per episode; the alert that this replica's view
 * of the log stopped verifying is its own and stays on every replica.
 * Reminders, escalations, grants ending soon and overdue break-glass
 * reviews are queued by access, which owns the requests
 * (jg_access_notify_due, driven by serve's sweeper): notify never calls up
 * into access.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "jitgate/audit.h"
#include "jitgate/backoff.h"
#include "jitgate/clock.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"
#include "jitgate/httpc.h"
#include "jitgate/log.h"
#include "jitgate/notify.h"
#include "jitgate/random.h"
#include "jitgate/thread.h"
#include "jitgate/webhook.h"

#define MAX_SECRET 4096
#define MAX_REPLY  65536
#define IDLE_MS	   200
/*
 * A claim lasts the sink's timeout plus this: room for connecting to the
 * store and writing the outcome, and for clocks of replicas a little apart.
 */
#define LEASE_MARGIN_MS 15000

struct sink {
	struct jg_notify *n;
	const struct jg_notify_sink_cfg *cfg;
	char *secret; /* NULL for a sink without one */
	size_t secret_len;
	unsigned audiences;
	struct jg_thread *thread; /* delivery; NULL when not running */
	unsigned long long delivered, retried, dead;
};

struct jg_notify {
	struct jg_store *store;
	struct jg_audit *audit; /* NULL: no alert when the log stops verifying */
	const struct jg_config *cfg;
	struct sink sinks[JG_NOTIFY_MAX_SINKS];
	size_t nsinks;
	pthread_mutex_t lock; /* the sinks' counters */
	struct jg_thread *timer;
	struct jg_store_leader
	    *leader; /* the timer's sink alerts and pruning, once across replicas */
	int ticks;   /* the timer's */
	int audit_alerted;
	int sink_alerted[2]; /* checkpoint sinks "dir", "url" */
};

/*
 * The outbox's times (created_at, next_attempt_at, delivered_at) and the
 * events' created_at: jitgate's clock (clock.h), which never runs backward,
 * so a wall clock stepped back does not hold a scheduled retry for the
 * size of the step.
 */
static int64_t
now_ms(void)
{
	return jg_clock_now_ms();
}

/* ---- routing ------------------------------------------------------------------ */

static bool
in_list(char **list, const char *s)
{
	for (size_t i = 0; list && s && list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* True when one of arr's strings is in list. */
static bool
any_in(char **list, json_t *arr)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (in_list(list, json_string_value(v)))
			return true;
	}
	return false;
}

static unsigned
audience_bits(char **list)
{
	unsigned bits = 0;
	if (list == NULL)
		return JG_NOTIFY_APPROVERS | JG_NOTIFY_REQUESTER | JG_NOTIFY_OWNERS;
	for (size_t i = 0; list[i]; i++)
		bits |= jg_notify_audience_bit(list[i]); /* config checked each name */
	return bits;
}

struct route {
	const char *type;
	const char *policy; /* NULL for events not about a request */
	unsigned audiences;
	json_t *approver_groups; /* borrowed */
	json_t *requester_groups;
	json_t *owner_groups; /* borrowed */
};

static bool
sink_wants(const struct sink *s, const struct route *r)
{
	const struct jg_notify_sink_cfg *c = s->cfg;
	unsigned both = s->audiences & r->audiences;

	if (c->events && !in_list(c->events, r->type))
		return false;
	if (c->policies && r->policy && !in_list(c->policies, r->policy))
		return false;
	if ((both & JG_NOTIFY_APPROVERS) && (!c->groups || any_in(c->groups, r->approver_groups)))
		return true;
	if ((both & JG_NOTIFY_REQUESTER) && (!c->groups || any_in(c->groups, r->requester_groups)))
		return true;
	if ((both & JG_NOTIFY_OWNERS) && (!c->groups || any_in(c->groups, r->owner_groups)))
		return true;
	return (both & (JG_NOTIFY_SECURITY | JG_NOTIFY_OPERATORS)) != 0;
}

static const char sql_outbox_insert[] =
    "INSERT INTO notify_outbox (id, sink, event, payload, state, attempts, next_attempt_at, "
    "created_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)";

/* One row per sink that wants the event; event gets each row's id (the idempotency key). */
static int
enqueue(const struct jg_notify *n, struct jg_store_conn *conn, json_t *event, const struct route *r)
{
	for (size_t i = 0; i < n->nsinks; i++) {
		const struct sink *s = &n->sinks[i];
		char rnd[32], id[40], *payload;
		struct jg_stmt *st;
		int rc;

		if (!sink_wants(s, r))
			continue;
		if (jg_random_token(16, rnd, sizeof(rnd)) != 0)
			return JG_ECRYPTO;
		snprintf(id, sizeof(id), "ntf_%s", rnd);
		json_object_set_new(event, "id", json_string(id));
		if ((payload = json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
			return JG_ENOMEM;
		if (jg_stmt_prepare(conn, sql_outbox_insert, &st) != 0) {
			free(payload);
			return JG_ESTORE;
		}
		int64_t now = now_ms();
		jg_stmt_bind_text(st, 1, id);
		jg_stmt_bind_text(st, 2, s->cfg->name);
		jg_stmt_bind_text(st, 3, r->type);
		jg_stmt_bind_text(st, 4, payload);
		jg_stmt_bind_int64(st, 5, now);
		jg_stmt_bind_int64(st, 6, now);
		rc = jg_stmt_step(st);
		jg_stmt_finish(st);
		free(payload);
		if (rc != JG_STMT_DONE)
			return JG_ESTORE;
	}
	return 0;
}

bool
jg_notify_active(const struct jg_notify *n)
{
	return n != NULL && n->nsinks > 0;
}

static void
copy_key(json_t *dst, json_t *src, const char *key)
{
	json_t *v = json_object_get(src, key);
	if (v != NULL && !json_is_null(v))
		json_object_set(dst, key, v);
}

/* The approvers named by the stored requirements: {"groups":[...],"users":[...]}, de-duplicated. */
static json_t *
approvers_of(json_t *request)
{
	json_t *groups = json_array(), *users = json_array(), *jr;
	size_t i;
	json_array_foreach(json_object_get(json_object_get(request, "decision"), "requirements"), i,
			   jr)
	{
		json_t *a = json_object_get(jr, "approvers"), *v;
		size_t k, m;
		json_array_foreach(json_object_get(a, "groups"), k, v)
		{
			int dup = 0;
			for (m = 0; m < json_array_size(groups); m++)
				dup |= json_equal(json_array_get(groups, m), v);
			if (!dup)
				json_array_append(groups, v);
		}
		json_array_foreach(json_object_get(a, "users"), k, v)
		{
			int dup = 0;
			for (m = 0; m < json_array_size(users); m++)
				dup |= json_equal(json_array_get(users, m), v);
			if (!dup)
				json_array_append(users, v);
		}
	}
	return json_pack("{s:o,s:o}", "groups", groups, "users", users);
}

/* "payments-debug" of "payments-debug#rules[1]", the rule that decided. */
static void
policy_of(json_t *request, char *out, size_t len)
{
	json_t *rules = json_object_get(json_object_get(request, "decision"), "matched_rules");
	const char *rule = json_string_value(json_array_get(rules, 0));
	size_t n = rule ? strcspn(rule, "#") : 0;
	snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), rule ? rule : "");
}

int
jg_notify_request(const struct jg_notify *n, struct jg_store_conn *conn, const char *type,
		  json_t *request, unsigned audiences, json_t *approvers)
{
	char policy[300], *link = NULL, *approvals = NULL;
	json_t *req, *ev = NULL, *appr = NULL;
	int rc = JG_ENOMEM;

	if (!jg_notify_active(n))
		return 0;
	policy_of(request, policy, sizeof(policy));
	req = json_object();
	if (req == NULL)
		return JG_ENOMEM;
	static const char *const keys[] = {
	    "id", "state", "requester", "service", "capabilities", "duration", "justification",
	    "incident", "break_glass", "expires_at", "end_reason", "ended_by",
	    /* a grant's use, and its access receipt once it ended (grant.receipt) */
	    "usage", "unused", "receipt"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		copy_key(req, request, keys[i]);
	if (*policy)
		json_object_set_new(req, "policy", json_string(policy));
	appr = approvers ? json_incref(approvers) : approvers_of(request);
	const char *pub = n->cfg->public_url;
	if (asprintf(&link, "%s/v1/requests/%s", pub,
		     json_string_value(json_object_get(request, "id"))) < 0)
		link = NULL;
	if (asprintf(&approvals, "%s/approvals", pub) < 0)
		approvals = NULL;
	json_t *aud = json_array();
	for (unsigned b = 0; aud && b < 5; b++)
		if (audiences & (1u << b))
			json_array_append_new(aud, json_string(jg_notify_audience_name(1u << b)));
	if (appr == NULL || link == NULL || approvals == NULL || aud == NULL)
		goto out;
	/* links: the API resource, and the page a person opens (the web form's "My access") */
	ev = json_pack("{s:s,s:I,s:o,s:O,s:{s:s,s:s+}}", "type", type, "created_at",
		       (json_int_t)(now_ms() / 1000), "audiences", aud, "request", req, "links",
		       "request", link, "my_access", pub, "/");
	if (ev == NULL)
		goto out;
	if (audiences & JG_NOTIFY_APPROVERS) {
		json_object_set(ev, "approvers", appr);
		json_object_set_new(json_object_get(ev, "links"), "approvals",
				    json_string(approvals));
	}
	struct route r = {.type = type,
			  .policy = *policy ? policy : NULL,
			  .audiences = audiences,
			  .approver_groups = json_object_get(appr, "groups"),
			  .requester_groups = json_object_get(request, "requester_groups")};
	rc = enqueue(n, conn, ev, &r);
out:
	json_decref(req);
	json_decref(ev);
	json_decref(appr);
	free(link);
	free(approvals);
	return rc;
}

int
jg_notify_review_due(const struct jg_notify *n, struct jg_store_conn *conn, const char *service,
		     json_t *owners, int64_t from, int64_t to)
{
	char *report = NULL, *page = NULL, *message = NULL;
	json_t *ev = NULL;
	int rc = JG_ENOMEM;

	if (!jg_notify_active(n))
		return 0;
	const char *pub = n->cfg->public_url;
	/* service is a catalog name (letters, digits, '-', '.'): nothing to escape in a URL */
	if (asprintf(&report, "%s/v1/reports/access?service=%s&from=%lld&to=%lld", pub, service,
		     (long long)from, (long long)to) < 0)
		report = NULL;
	if (asprintf(&page, "%s/reports/access?service=%s&from=%lld&to=%lld", pub, service,
		     (long long)from, (long long)to) < 0)
		page = NULL;
	if (asprintf(&message,
		     "The access review of %s is due: check the grants of the last period and "
		     "their flags (never used, read-pii used, extended, break-glass unreviewed).",
		     service) < 0)
		message = NULL;
	if (report == NULL || page == NULL || message == NULL)
		goto out;
	ev = json_pack("{s:s,s:I,s:[s],s:{s:s,s:O,s:I,s:I,s:s},s:{s:s,s:s}}", "type",
		       "report.review_due", "created_at", (json_int_t)(now_ms() / 1000),
		       "audiences", "owners", "review", "service", service, "owners", owners,
		       "from", (json_int_t)from, "to", (json_int_t)to, "message", message, "links",
		       "report", report, "report_page", page);
	if (ev == NULL)
		goto out;
	struct route r = {
	    .type = "report.review_due", .audiences = JG_NOTIFY_OWNERS, .owner_groups = owners};
	rc = enqueue(n, conn, ev, &r);
out:
	json_decref(ev);
	free(report);
	free(page);
	free(message);
	return rc;
}

/* An operator alert, in its own transaction (nothing else changes with it). */
static void
alert(struct jg_notify *n, const char *type, const char *message, const char *sink)
{
	struct jg_store_conn *conn;
	json_t *ev = json_pack("{s:s,s:I,s:[s],s:{s:s}}", "type", type, "created_at",
			       (json_int_t)(now_ms() / 1000), "audiences", "operators", "alert",
			       "message", message);
	struct route r = {.type = type, .audiences = JG_NOTIFY_OPERATORS};
	int rc = JG_ESTORE;

	if (ev == NULL)
		return;
	if (sink)
		json_object_set_new(json_object_get(ev, "alert"), "sink", json_string(sink));
	if (jg_store_acquire(n->store, &conn) == 0) {
		if (jg_store_begin(conn) == 0) {
			rc = enqueue(n, conn, ev, &r);
			rc = rc == 0 ? jg_store_commit(conn) : rc;
			if (rc != 0)
				jg_store_rollback(conn);
		}
		jg_store_release(n->store, conn);
	}
	json_decref(ev);
	json_t *f = json_pack("{s:s}", "event", type);
	jg_log(rc == 0 ? JG_LOG_INFO : JG_LOG_ERROR,
	       rc == 0 ? "notify: operator alert queued" : "notify: cannot queue an operator alert",
	       f);
	json_decref(f);
}

/* ---- delivery ----------------------------------------------------------------- */

/* PostgreSQL: the oldest due row no other transaction holds, claimed in one statement. */
static const char sql_claim_pg[] =
    "UPDATE notify_outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = (SELECT id "
    "FROM notify_outbox WHERE sink = ? AND state = 'pending' AND next_attempt_at <= ? ORDER BY "
    "created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, event, payload, attempts";
/* SQLite: read the oldest due row (no write lock when none is due), then claim it. */
static const char sql_due[] =
    "SELECT id, event, payload, attempts FROM notify_outbox WHERE sink = ? AND state = 'pending' "
    "AND next_attempt_at <= ? ORDER BY created_at, id LIMIT 1";
static const char sql_claim_sqlite[] =
    "UPDATE notify_outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ? AND "
    "state = 'pending' AND attempts = ? AND next_attempt_at <= ?";
/* outcomes: only while the row still carries this claim (its attempt number) */
static const char sql_delivered[] =
    "UPDATE notify_outbox SET state = 'delivered', delivered_at = ?, last_error = NULL WHERE id = "
    "? AND attempts = ? AND state = 'pending'";
static const char sql_retry[] =
    "UPDATE notify_outbox SET state = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND "
    "attempts = ? AND state = 'pending'";

struct row {
	char id[48], event[64];
	char *payload;
	int attempts; /* with this attempt: the claim's fencing token */
};

static const char sql_next[] =
    "SELECT min(next_attempt_at) FROM notify_outbox WHERE sink = ? AND state = 'pending'";

/* Copies the claimed row's columns (id, event, payload, attempts): 1, or JG_ENOMEM. */
static int
row_read(struct jg_stmt *st, struct row *row)
{
	snprintf(row->id, sizeof(row->id), "%s", jg_stmt_column_text(st, 0));
	snprintf(row->event, sizeof(row->event), "%s", jg_stmt_column_text(st, 1));
	row->payload = strdup(jg_stmt_column_text(st, 2));
	row->attempts = (int)jg_stmt_column_int64(st, 3);
	return row->payload ? 1 : JG_ENOMEM;
}

/* PostgreSQL's claim: 1 and *row, JG_STMT_DONE when none is due, <0 on failure. */
static int
claim_pg(struct sink *s, struct jg_store_conn *conn, int64_t now, int64_t lease, struct row *row)
{
	struct jg_stmt *st;
	int rc = jg_stmt_prepare(conn, sql_claim_pg, &st);

	if (rc != 0)
		return rc;
	jg_stmt_bind_int64(st, 1, now + lease);
	jg_stmt_bind_text(st, 2, s->cfg->name);
	jg_stmt_bind_int64(st, 3, now);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW)
		rc = row_read(st, row);
	jg_stmt_finish(st);
	return rc;
}

/*
 * SQLite's: the oldest due row, claimed if it still has the attempts it was
 * read with.  1 and *row, JG_STMT_DONE when none is due, JG_ECONFLICT when
 * another claim came first, another <0 on failure.
 */
static int
claim_sqlite(struct sink *s, struct jg_store_conn *conn, int64_t now, int64_t lease,
	     struct row *row)
{
	struct jg_stmt *st;
	int rc = jg_stmt_prepare(conn, sql_due, &st);

	if (rc != 0)
		return rc;
	jg_stmt_bind_text(st, 1, s->cfg->name);
	jg_stmt_bind_int64(st, 2, now);
	rc = jg_stmt_step(st);
	if (rc == JG_STMT_ROW)
		rc = row_read(st, row);
	jg_stmt_finish(st);
	if (rc != 1)
		return rc;
	if ((rc = jg_stmt_prepare(conn, sql_claim_sqlite, &st)) == 0) {
		jg_stmt_bind_int64(st, 1, now + lease);
		jg_stmt_bind_text(st, 2, row->id);
		jg_stmt_bind_int64(st, 3, row->attempts);
		jg_stmt_bind_int64(st, 4, now);
		rc = jg_stmt_run(st);
	}
	if (rc == 0 && jg_store_changes(conn) != 1)
		rc = JG_ECONFLICT;
	if (rc != 0) {
		free(row->payload);
		row->payload = NULL;
		return rc;
	}
	row->attempts++;
	return 1;
}

/*
 * Claims the sink's oldest due row: 1 and *row (free row->payload); 0 when
 * none is due, with *next_ms the time of the next retry (0: none waiting)
 * - or when another replica's claim came first (*next_ms now: look again at
 * once); <0 on a store failure.
 */
static int
take_due(struct sink *s, struct row *row, int64_t *next_ms)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int64_t now = now_ms(), lease = s->cfg->timeout_ms + LEASE_MARGIN_MS;
	int rc;

	memset(row, 0, sizeof(*row));
	*next_ms = 0;
	if (jg_store_acquire(s->n->store, &conn) != 0)
		return JG_ESTORE;
	rc = jg_store_conn_engine(conn) == JG_STORE_POSTGRES
		 ? claim_pg(s, conn, now, lease, row)
		 : claim_sqlite(s, conn, now, lease, row);
	if (rc == JG_ECONFLICT) {
		*next_ms = now;
		rc = 0;
	} else if (rc == JG_STMT_DONE && jg_stmt_prepare(conn, sql_next, &st) == 0) {
		jg_stmt_bind_text(st, 1, s->cfg->name);
		if (jg_stmt_step(st) == JG_STMT_ROW && !jg_stmt_column_is_null(st, 0))
			*next_ms = jg_stmt_column_int64(st, 0);
		jg_stmt_finish(st);
	}
	jg_store_release(s->n->store, conn);
	return rc;
}

/* One attempt: 0 when the receiver acknowledged (2xx); why says what went wrong otherwise. */
static int
send_row(struct sink *s, const struct row *row, char *why, size_t whylen)
{
	json_t *ev = json_loads(row->payload, 0, NULL);
	char *body = ev ? jg_notify_body(s->cfg->type, ev) : NULL;
	char h_event[100], h_key[100], h_idem[100], h_ts[64], h_sig[JG_WEBHOOK_SIG_LEN + 32];
	char h_attempt[48];
	const char *headers[7] = {h_event, h_key, h_idem, h_ts, h_attempt, NULL, NULL};
	struct jg_httpc_reply reply;
	int64_t ts = now_ms() / 1000;
	int rc;

	json_decref(ev);
	if (body == NULL) {
		snprintf(why, whylen, "the notification could not be encoded");
		return JG_EINVAL;
	}
	snprintf(h_event, sizeof(h_event), "X-Jitgate-Event: %s", row->event);
	snprintf(h_key, sizeof(h_key), "X-Jitgate-Idempotency-Key: %s", row->id);
	/* the same key under the name of the IETF draft, which some receivers de-duplicate on */
	snprintf(h_idem, sizeof(h_idem), "Idempotency-Key: \"%s\"", row->id);
	snprintf(h_ts, sizeof(h_ts), "X-Jitgate-Timestamp: %lld", (long long)ts);
	snprintf(h_attempt, sizeof(h_attempt), "X-Jitgate-Attempt: %d", row->attempts);
	if (s->secret) {
		char sig[JG_WEBHOOK_SIG_LEN];
		if (jg_webhook_sign(s->secret, s->secret_len, ts, body, strlen(body), sig) != 0) {
			free(body);
			snprintf(why, whylen, "signing failed");
			return JG_ECRYPTO;
		}
		snprintf(h_sig, sizeof(h_sig), "X-Jitgate-Signature: %s", sig);
		headers[5] = h_sig;
	}
	struct jg_httpc_opts opts = {.ca_file = s->cfg->ca_file,
				     .timeout_ms = (long)s->cfg->timeout_ms,
				     .max_bytes = MAX_REPLY,
				     .content_type = "application/json",
				     .headers = headers};
	rc = jg_httpc_request(s->cfg->url, body, &opts, &reply);
	free(body);
	if (rc != 0) {
		snprintf(why, whylen, "no answer: %s", jg_strerror(rc));
		return JG_EIO;
	}
	rc = reply.status >= 200 && reply.status < 300 ? 0 : JG_EIO;
	if (rc != 0)
		snprintf(why, whylen, "the receiver answered %ld", reply.status);
	jg_httpc_reply_free(&reply);
	return rc;
}

static void
record(struct sink *s, const struct row *row, int ok, const char *why)
{
	const struct jg_config *cfg = s->n->cfg;
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	int64_t max = s->cfg->max_attempts ? s->cfg->max_attempts : cfg->notify_max_attempts;
	int attempts = row->attempts, dead = !ok && attempts >= max, rc = JG_ESTORE;
	uint32_t rnd = 0;

	if (jg_store_acquire(s->n->store, &conn) != 0)
		return; /* the row is sent again when its lease ends, same key */
	if (ok && jg_stmt_prepare(conn, sql_delivered, &st) == 0) {
		jg_stmt_bind_int64(st, 1, now_ms());
		jg_stmt_bind_text(st, 2, row->id);
		jg_stmt_bind_int64(st, 3, attempts);
		rc = jg_stmt_run(st);
	} else if (!ok && jg_stmt_prepare(conn, sql_retry, &st) == 0) {
		(void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
		jg_stmt_bind_text(st, 1, dead ? "dead" : "pending");
		jg_stmt_bind_int64(st, 2,
				   now_ms() + jg_backoff_ms(attempts, cfg->notify_retry_base_ms,
							    cfg->notify_retry_max_ms, rnd));
		jg_stmt_bind_text(st, 3, why);
		jg_stmt_bind_text(st, 4, row->id);
		jg_stmt_bind_int64(st, 5, attempts);
		rc = jg_stmt_run(st);
	}
	if (rc == 0 && jg_store_changes(conn) != 1) {
		/* the lease ran out and the row was taken again (or re-driven): not ours to record
		 */
		json_t *f = json_pack("{s:s,s:s,s:i}", "sink", s->cfg->name, "notification",
				      row->id, "attempts", attempts);
		jg_log(JG_LOG_WARN,
		       "notify: an attempt outlived its claim; its outcome is not recorded", f);
		json_decref(f);
	}
	jg_store_release(s->n->store, conn);
	pthread_mutex_lock(&s->n->lock);
	if (ok)
		s->delivered++;
	else if (dead)
		s->dead++;
	else
		s->retried++;
	pthread_mutex_unlock(&s->n->lock);
	if (!ok) {
		json_t *f =
		    json_pack("{s:s,s:s,s:s,s:i,s:s}", "sink", s->cfg->name, "notification",
			      row->id, "event", row->event, "attempts", attempts, "why", why);
		jg_log(dead ? JG_LOG_ERROR : JG_LOG_WARN,
		       dead ? "notify: giving up on a notification (dead-lettered)"
			    : "notify: delivery failed; will retry",
		       f);
		json_decref(f);
	}
}

/*
 * One round of a sink's thread: deliver its oldest due row and come back at
 * once, or, with none due, come back when the next retry is due - within
 * IDLE_MS, so new rows are seen soon; a retry at its time, not up to
 * IDLE_MS late.
 */
static int64_t
sink_tick(void *arg)
{
	struct sink *s = arg;
	struct row row;
	int64_t next = 0;

	if (take_due(s, &row, &next) == 1) {
		char why[200] = "";
		int ok = send_row(s, &row, why, sizeof(why)) == 0;
		record(s, &row, ok, why);
		free(row.payload);
		return 0;
	}
	int64_t wait = next > 0 ? next - now_ms() : IDLE_MS;
	return wait < 1 ? 1 : wait > IDLE_MS ? IDLE_MS : wait;
}

/* ---- the timer: time-based events and operator alerts ---------------------------- */

/* Alerts once per episode when a checkpoint waits longer than alert_after for a sink. */
static void
check_sinks(struct jg_notify *n)
{
	const struct jg_config *cfg = n->cfg;
	static const char *const names[2] = {JG_AUDIT_SINK_DIR, JG_AUDIT_SINK_URL};
	const char *where[2] = {cfg->audit_sink_dir, cfg->audit_sink_url};

	for (int i = 0; i < 2; i++) {
		int64_t oldest = 0;
		if (where[i] == NULL)
			continue;
		int rc = jg_audit_oldest_unpushed(n->store, names[i], &oldest);
		if (rc == JG_ENOTFOUND) {
			n->sink_alerted[i] = 0; /* caught up: the next failure alerts again */
			continue;
		}
		if (rc != 0)
			continue; /* the store cannot tell now: judged at the next tick */
		if (!n->sink_alerted[i] && now_ms() - oldest > cfg->notify_alert_after * 1000) {
			char msg[300];
			snprintf(
			    msg, sizeof(msg),
			    "a signed checkpoint has not reached the off-host %s sink for more "
			    "than %lld seconds; jitgate keeps retrying",
			    i == 0 ? "directory" : "HTTPS", (long long)cfg->notify_alert_after);
			alert(n, "audit.checkpoint_sink_failed", msg, names[i]);
			n->sink_alerted[i] = 1;
		}
	}
}

static const char sql_prune[] =
    "DELETE FROM notify_outbox WHERE state = 'delivered' AND delivered_at < ?";

/* Delivered rows are kept keep_delivered_days (for operators), then deleted; dead ones stay. */
static void
prune(struct jg_notify *n)
{
	struct jg_store_conn *conn;
	struct jg_stmt *st;
	if (jg_store_acquire(n->store, &conn) != 0)
		return;
	if (jg_stmt_prepare(conn, sql_prune, &st) == 0) {
		jg_stmt_bind_int64(st, 1,
				   now_ms() - n->cfg->notify_keep_delivered_days * 86400000LL);
		if (jg_stmt_step(st) != JG_STMT_DONE)
			jg_log(JG_LOG_WARN, "notify: cannot delete old delivered notifications now",
			       NULL);
		jg_stmt_finish(st);
	}
	jg_store_release(n->store, conn);
}

/* The timer's round, every second: operator alerts; at start and then hourly, pruning. */
static int64_t
timer_tick(void *arg)
{
	struct jg_notify *n = arg;
	char why[400];
	bool lead = false;

	(void)jg_store_leader_poll(n->leader, &lead);
	/* hourly from the moment this replica leads (the first round it leads prunes) */
	if (!lead)
		n->ticks = 0;
	else if (n->ticks++ % 3600 == 0)
		prune(n);
	if (!n->audit_alerted && n->audit && jg_audit_healthy(n->audit, why, sizeof(why)) != 0) {
		alert(n, "audit.verification_failed", why, NULL);
		n->audit_alerted = 1; /* the failure is sticky until a restart */
	}
	if (lead)
		check_sinks(n);
	return 1000;
}

/* ---- life cycle ------------------------------------------------------------------ */

int
jg_notify_new(struct jg_store *store, struct jg_audit *audit, const struct jg_config *cfg,
	      struct jg_notify **out, char *err, size_t errlen)
{
	struct jg_notify *n = calloc(1, sizeof(*n));

	*out = NULL;
	if (n == NULL)
		return JG_ENOMEM;
	n->store = store;
	n->audit = audit;
	n->cfg = cfg;
	if (pthread_mutex_init(&n->lock, NULL) != 0) {
		free(n);
		return JG_ENOMEM;
	}
	for (size_t i = 0; i < cfg->notify_nsinks && i < JG_NOTIFY_MAX_SINKS; i++) {
		struct sink *s = &n->sinks[n->nsinks++];
		s->n = n;
		s->cfg = &cfg->notify_sinks[i];
		s->audiences = audience_bits(s->cfg->audiences);
		if (s->cfg->secret_file == NULL)
			continue;
		char e[512];
		int rc = jg_file_read(s->cfg->secret_file, MAX_SECRET, true, &s->secret,
				      &s->secret_len, e, sizeof(e));
		/* a trailing newline is not part of the key (echo ... > file) */
		while (
		    rc == 0 && s->secret_len > 0 &&
		    (s->secret[s->secret_len - 1] == '\n' || s->secret[s->secret_len - 1] == '\r'))
			s->secret[--s->secret_len] = '\0';
		if (rc == 0 && s->secret_len < 16) {
			snprintf(e, sizeof(e), "%s: a signing secret needs at least 16 bytes",
				 s->cfg->secret_file);
			rc = JG_ECONFIG;
		}
		if (rc != 0) {
			snprintf(err, errlen, "notification sink '%s': %s", s->cfg->name, e);
			jg_notify_free(n);
			return JG_ECONFIG;
		}
	}
	*out = n;
	return 0;
}

int
jg_notify_start(struct jg_notify *n)
{
	if (n == NULL || n->nsinks == 0)
		return 0; /* nothing to deliver, nothing to alert on */
	for (size_t i = 0; i < n->nsinks; i++) {
		if (jg_thread_start(&n->sinks[i].thread, "jg-notify-sink", 0, sink_tick,
				    &n->sinks[i]) != 0) {
			jg_notify_stop(n);
			return JG_ENOMEM;
		}
	}
	if ((n->leader == NULL && jg_store_leader_new(n->store, "notify-timer", &n->leader) != 0) ||
	    jg_thread_start(&n->timer, "jg-notify-timer", 1000, timer_tick, n) != 0) {
		jg_notify_stop(n);
		return JG_ENOMEM;
	}
	return 0;
}

void
jg_notify_stop(struct jg_notify *n)
{
	if (n == NULL)
		return;
	/* all asked first, so deliveries in flight end by their timeouts together */
	jg_thread_signal_stop(n->timer);
	for (size_t i = 0; i < n->nsinks; i++)
		jg_thread_signal_stop(n->sinks[i].thread);
	jg_thread_stop(n->timer);
	n->timer = NULL;
	for (size_t i = 0; i < n->nsinks; i++) {
		jg_thread_stop(n->sinks[i].thread);
		n->sinks[i].thread = NULL;
	}
}

void
jg_notify_free(struct jg_notify *n)
{
	if (n == NULL)
		return;
	jg_notify_stop(n);
	jg_store_leader_free(n->leader);
	for (size_t i = 0; i < n->nsinks; i++)
		jg_file_free_secret(n->sinks[i].secret, n->sinks[i].secret_len);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

/* ---- metrics ---------------------------------------------------------------------- */

static const char sql_queued[] = "SELECT count(*) FROM notify_outbox WHERE sink = ? AND state = ?";

static int64_t
queued(struct jg_store_conn *conn, const char *sink, const char *state)
{
	struct jg_stmt *st;
	int64_t v = -1;
	if (conn == NULL || jg_stmt_prepare(conn, sql_queued, &st) != 0)
		return -1;
	jg_stmt_bind_text(st, 1, sink);
	jg_stmt_bind_text(st, 2, state);
	if (jg_stmt_step(st) == JG_STMT_ROW)
		v = jg_stmt_column_int64(st, 0);
	jg_stmt_finish(st);
	return v;
}

char *
jg_notify_metrics(struct jg_notify *n)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	struct jg_store_conn *conn = NULL;

	if (n == NULL || n->nsinks == 0)
		return strdup("");
	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	/* a failed write to the memory stream (out of memory) sets its error flag: read at the end
	 */
	(void)fputs(
	    "# HELP jitgate_notifications_total Notification delivery attempts since start, "
	    "by sink and result.\n# TYPE jitgate_notifications_total counter\n",
	    f);
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < n->nsinks; i++) {
		const struct sink *s = &n->sinks[i];
		fprintf(f,
			"jitgate_notifications_total{sink=\"%s\",result=\"delivered\"} %llu\n"
			"jitgate_notifications_total{sink=\"%s\",result=\"retried\"} %llu\n"
			"jitgate_notifications_total{sink=\"%s\",result=\"dead\"} %llu\n",
			s->cfg->name, s->delivered, s->cfg->name, s->retried, s->cfg->name,
			s->dead);
	}
	pthread_mutex_unlock(&n->lock);
	(void)fputs("# HELP jitgate_notifications_queued Notifications in the outbox, by sink and "
		    "state (pending: not delivered yet; dead: gave up).\n"
		    "# TYPE jitgate_notifications_queued gauge\n",
		    f);
	(void)jg_store_acquire(n->store, &conn);
	for (size_t i = 0; i < n->nsinks; i++) {
		const char *name = n->sinks[i].cfg->name;
		int64_t p = queued(conn, name, "pending"), d = queued(conn, name, "dead");
		if (p >= 0 && d >= 0)
			fprintf(f,
				"jitgate_notifications_queued{sink=\"%s\",state=\"pending\"} %lld\n"
				"jitgate_notifications_queued{sink=\"%s\",state=\"dead\"} %lld\n",
				name, (long long)p, name, (long long)d);
	}
	if (conn)
		jg_store_release(n->store, conn);
	int failed = ferror(f);
	if (fclose(f) != 0 || failed) {
		free(out);
		return NULL;
	}
	return out;
}

/* The outbox as `jitgate store copy` moves it (store.h): pending notifications stay pending. */
static const struct jg_store_table notify_tables[] = {
    JG_STORE_TABLE("notify_outbox",
		   "id, sink, event, payload, state, attempts, next_attempt_at, created_at, "
		   "delivered_at, last_error",
		   "tttttiiiit", "id", "?, ?, ?, ?, ?, ?, ?, ?, ?, ?"),
};

const struct jg_store_table *
jg_notify_tables(size_t *n)
{
	*n = sizeof(notify_tables) / sizeof(notify_tables[0]);
	return notify_tables;
}
