/*
 * report.c - access reviews computed from audit entries (report.h).
 *
 * A scanner keeps one record per request created in the period, found by
 * id through a jansson object (a hash table) and changed by the entries
 * that name it: each entry type has a handler in the table `handlers`, so
 * the entries issue 19's other items add (grant.activated,
 * grant.not_activated, grant.extended, grant.receipt) are one line each.
 * A record says whether it is still "open" - pending, scheduled or active,
 * or a break-glass grant nobody has reviewed yet - and the scanner counts
 * the open ones, so a reader can stop once the period is over and nothing
 * open is left, instead of reading to the end of the log.
 *
 * What a report shows is what the log holds: actors and requesters as the
 * log names them, nothing a person wrote (justifications, reasons and
 * notes are not copied; the log holds only their markers anyway).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jitgate/catalog.h"
#include "jitgate/error.h"
#include "jitgate/report.h"

/* the guarded actions (docs/audit-format.md): each one a use of its grant */
static const char *const action_types[] = {
    "logs.read",    "traces.read", "traces.search", "metrics.read",
    "probe.deploy", "probe.list",  "probe.delete",  "probe.events.read",
};
#define NACTIONS (sizeof(action_types) / sizeof(action_types[0]))

enum state { PENDING, SCHEDULED, ACTIVE, ENDED, DROPPED };

struct grec {
	char id[64];
	char service[JG_SERVICE_NAME_MAX + 1];
	char requester[300];
	json_t *caps;
	int64_t requested_at, duration;
	int break_glass;
	enum state state;
	int granted; /* approved at some point: a grant, reported */
	int64_t start, expires_at, end;
	int64_t starts_at; /* the start asked for (request.created's starts_at; 0: at once) */
	char end_reason[24];
	json_t *approvers; /* actor strings, in order, once each */
	json_t *exts;	   /* its extensions: [{id, approvers, expires_at}] in log order */
	char reviewed_by[300];
	int64_t reviewed_at;
	int reviewed;
	uint64_t tokens, refusals, pii_reads, extensions, probe_events;
	uint64_t actions[NACTIONS];
	uint64_t first_seq, last_seq;
	json_t *receipt; /* grant.receipt's data, when the log has one */
	uint64_t receipt_seq;
};

struct jg_report_scan {
	int64_t from_ms, to_ms, from, to;
	char *service;
	json_t *index; /* id -> position in g */
	struct grec *g;
	size_t n, cap;
	size_t open;
	size_t receipt_bytes;
	uint64_t first_seq, last_seq, entries;
};

/* the entry being fed */
struct ev {
	const char *type, *actor;
	int64_t ts;    /* seconds */
	int64_t ts_ms; /* as the entry has it */
	uint64_t seq;
	json_t *data;
};

static int
is_open(const struct grec *g)
{
	return g->state == PENDING || g->state == SCHEDULED || g->state == ACTIVE ||
	       (g->granted && g->break_glass && !g->reviewed);
}

/* A person as a grant's receipt names them (audit-format.md §9): the sub of "user:<sub>". */
static const char *
who(const char *actor)
{
	return actor && strncmp(actor, "user:", 5) == 0 ? actor + 5 : actor;
}

static void
copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static const char *
str(const json_t *data, const char *key)
{
	return json_string_value(json_object_get(data, key));
}

/* The record an entry names by key (NULL when the request is not the report's). */
static struct grec *
find(struct jg_report_scan *s, const json_t *data, const char *key)
{
	const char *id = str(data, key);
	json_t *pos = id ? json_object_get(s->index, id) : NULL;
	return pos ? &s->g[json_integer_value(pos)] : NULL;
}

static void
touch(struct grec *g, const struct ev *e)
{
	if (g->first_seq == UINT64_MAX)
		g->first_seq = e->seq;
	g->last_seq = e->seq;
}

static void
end(struct grec *g, const struct ev *e, const char *reason)
{
	if (g->state == PENDING || (g->state == SCHEDULED && !g->granted))
		g->state = DROPPED; /* never a grant */
	else
		g->state = ENDED;
	g->end = e->ts;
	copy(g->end_reason, sizeof(g->end_reason), reason);
}

static int
on_created(struct jg_report_scan *s, const struct ev *e)
{
	const char *id = str(e->data, "request"), *service = str(e->data, "service");
	if (id == NULL || service == NULL || e->ts_ms < s->from_ms || e->ts_ms >= s->to_ms ||
	    (s->service && strcmp(s->service, service) != 0))
		return 0;
	if (strlen(id) >= sizeof(s->g->id) || json_object_get(s->index, id))
		return 0;
	if (s->n == JG_REPORT_MAX_GRANTS)
		return JG_ETOOBIG;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct grec *g = realloc(s->g, cap * sizeof(*g));
		if (g == NULL)
			return JG_ENOMEM;
		s->g = g;
		s->cap = cap;
	}
	struct grec *g = &s->g[s->n];
	memset(g, 0, sizeof(*g));
	copy(g->id, sizeof(g->id), id);
	copy(g->service, sizeof(g->service), service);
	copy(g->requester, sizeof(g->requester), who(e->actor));
	g->caps = json_deep_copy(json_object_get(e->data, "capabilities"));
	g->approvers = json_array();
	g->exts = json_array();
	if (g->caps == NULL || g->approvers == NULL || g->exts == NULL ||
	    json_object_set_new(s->index, id, json_integer((json_int_t)s->n)) != 0) {
		json_decref(g->caps);
		json_decref(g->approvers);
		json_decref(g->exts);
		return JG_ENOMEM;
	}
	s->n++;
	g->first_seq = UINT64_MAX;
	touch(g, e);
	g->requested_at = e->ts;
	g->duration = json_integer_value(json_object_get(e->data, "duration"));
	g->break_glass = json_is_true(json_object_get(e->data, "break_glass"));
	g->starts_at = json_integer_value(json_object_get(e->data, "starts_at"));
	const char *state = str(e->data, "state");
	if (state && strcmp(state, "active") == 0) {
		g->state = ACTIVE;
		g->granted = 1;
		/* a request granted at once carries expires_at (the window of its receipt) */
		json_t *exp = json_object_get(e->data, "expires_at");
		g->expires_at = exp ? json_integer_value(exp) : e->ts + g->duration;
		g->start = g->expires_at - g->duration;
	} else if (state && strcmp(state, "scheduled") == 0) {
		g->state = SCHEDULED; /* approved at once, starts later (issue 19, item 2) */
		g->granted = 1;
	} else {
		g->state = PENDING;
	}
	s->open += is_open(g);
	return 0;
}

/* Adds actor's sub to approvers (an array of strings) unless it is there. */
static int
add_approver(json_t *approvers, const char *actor)
{
	int dup = 0;
	json_t *v;
	size_t i;
	json_array_foreach(approvers, i, v) dup |= strcmp(json_string_value(v), who(actor)) == 0;
	if (!dup && json_array_append_new(approvers, json_string(who(actor))) != 0)
		return JG_ENOMEM;
	return 0;
}

/* The extension id of grant g (NULL when g has none by that id). */
static json_t *
ext_of(const struct grec *g, const char *id)
{
	json_t *x;
	size_t i;
	json_array_foreach(g->exts, i, x) if (id && strcmp(str(x, "id"), id) == 0) return x;
	return NULL;
}

/* grant.extension_requested {request: X, grant: G}: extension X of G, no approver yet. */
static int
on_ext_requested(struct grec *g, const struct ev *e)
{
	const char *id = str(e->data, "request");
	if (id == NULL || ext_of(g, id) || json_array_size(g->exts) >= 64)
		return 0; /* bounded like the receipts: a grant has few extensions */
	json_t *x = json_pack("{s:s,s:[],s:n}", "id", id, "approvers", "expires_at");
	return x && json_array_append_new(g->exts, x) == 0 ? 0 : JG_ENOMEM;
}

static int
on_approved(struct grec *g, const struct ev *e)
{
	if (add_approver(g->approvers, e->actor) != 0)
		return JG_ENOMEM;
	if (g->state != PENDING)
		return 0;
	json_t *exp = json_object_get(e->data, "expires_at");
	if (json_is_true(json_object_get(e->data, "scheduled"))) {
		/*
		 * approved before its start (activated: false, scheduled: true): a
		 * grant, not usable yet; grant.activated starts it, or it ends
		 * unstarted (request.cancelled / grant.revoked with was "scheduled",
		 * grant.not_activated).  expires_at is the planned end.
		 */
		g->granted = 1;
		g->state = SCHEDULED;
		g->expires_at = json_integer_value(exp);
		json_t *at = json_object_get(e->data, "starts_at");
		if (at)
			g->starts_at = json_integer_value(at);
		return 0;
	}
	if (!json_is_true(json_object_get(e->data, "activated")))
		return 0;
	g->granted = 1;
	g->state = ACTIVE;
	g->expires_at = exp ? json_integer_value(exp) : e->ts + g->duration;
	g->start = g->expires_at - g->duration; /* as its receipt counts it */
	return 0;
}

static int
on_activated(struct grec *g, const struct ev *e)
{
	g->granted = 1;
	g->state = ACTIVE;
	json_t *at = json_object_get(e->data, "activated_at");
	g->start = at ? json_integer_value(at) : e->ts;
	g->expires_at = json_integer_value(json_object_get(e->data, "expires_at"));
	return 0;
}

static int
on_reviewed(struct grec *g, const struct ev *e)
{
	if (!g->reviewed) {
		g->reviewed = 1;
		copy(g->reviewed_by, sizeof(g->reviewed_by), who(e->actor));
		g->reviewed_at = e->ts;
	}
	return 0;
}

static int
on_extended(struct grec *g, const struct ev *e)
{
	g->extensions++;
	json_t *exp = json_object_get(e->data, "expires_at");
	if (exp)
		g->expires_at = json_integer_value(exp);
	json_t *x = ext_of(g, str(e->data, "extension"));
	if (x && exp && json_object_set(x, "expires_at", exp) != 0)
		return JG_ENOMEM;
	return 0;
}

static int
on_receipt(struct jg_report_scan *s, struct grec *g, const struct ev *e)
{
	char *text = json_dumps(e->data, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0;
	free(text);
	if (text == NULL)
		return JG_ENOMEM;
	if (s->receipt_bytes + len > JG_REPORT_MAX_RECEIPT_BYTES)
		return JG_ETOOBIG;
	s->receipt_bytes += len;
	json_decref(g->receipt);
	g->receipt = json_deep_copy(e->data);
	g->receipt_seq = e->seq;
	return g->receipt ? 0 : JG_ENOMEM;
}

/* How an entry type changes the record it names (by request id or grant id). */
enum kind {
	K_APPROVED,
	K_DENIED,
	K_CANCELLED,
	K_EXPIRED,
	K_REVOKED,
	K_REVIEWED,
	K_ACTIVATED,
	K_NOT_ACTIVATED,
	K_EXTENDED,
	K_EXT_REQUESTED,
	K_RECEIPT,
	K_TOKEN,
	K_REFUSED,
};
static const struct {
	const char *type, *key;
	enum kind kind;
} handlers[] = {
    {"request.approved", "request", K_APPROVED},
    {"request.denied", "request", K_DENIED},
    {"request.cancelled", "request", K_CANCELLED},
    {"request.expired", "request", K_EXPIRED},
    {"grant.expired", "request", K_EXPIRED},
    {"grant.revoked", "request", K_REVOKED},
    {"grant.reviewed", "request", K_REVIEWED},
    {"grant.activated", "grant", K_ACTIVATED},
    {"grant.not_activated", "grant", K_NOT_ACTIVATED},
    {"grant.extended", "grant", K_EXTENDED},
    {"grant.extension_requested", "grant", K_EXT_REQUESTED},
    {"grant.receipt", "grant", K_RECEIPT},
    {"token.issued", "grant", K_TOKEN},
    {"guard.refused", "grant", K_REFUSED},
};

static int
apply(struct jg_report_scan *s, const struct ev *e)
{
	if (strcmp(e->type, "request.created") == 0)
		return on_created(s, e);
	if (strcmp(e->type, "probe.events.ingested") == 0) {
		/* events a probe of the grant stored: not a use by a person, counted apart */
		struct grec *g = find(s, e->data, "grant");
		json_int_t n = json_integer_value(json_object_get(e->data, "count"));
		if (g) {
			touch(g, e);
			g->probe_events += n > 0 ? (uint64_t)n : 0;
		}
		return 0;
	}
	if (strcmp(e->type, "request.approved") == 0 && str(e->data, "grant")) {
		/* an approval of an extension (its request id, and grant: the grant it extends) */
		struct grec *g = find(s, e->data, "grant");
		json_t *x = g ? ext_of(g, str(e->data, "request")) : NULL;
		if (x) {
			touch(g, e);
			return add_approver(json_object_get(x, "approvers"), e->actor);
		}
		return 0;
	}
	for (size_t i = 0; i < NACTIONS; i++) {
		if (strcmp(e->type, action_types[i]) != 0)
			continue;
		struct grec *g = find(s, e->data, "grant");
		if (g) {
			touch(g, e);
			g->actions[i]++;
			g->pii_reads += json_is_true(json_object_get(e->data, "pii"));
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (strcmp(e->type, handlers[i].type) != 0)
			continue;
		struct grec *g = find(s, e->data, handlers[i].key);
		if (g == NULL)
			return 0;
		int was = is_open(g), rc = 0;
		touch(g, e);
		switch (handlers[i].kind) {
		case K_APPROVED: rc = on_approved(g, e); break;
		case K_DENIED: end(g, e, "denied"); break;
		case K_CANCELLED: end(g, e, "cancelled"); break;
		case K_EXPIRED: end(g, e, "expired"); break;
		case K_REVOKED: end(g, e, "revoked"); break;
		case K_REVIEWED: rc = on_reviewed(g, e); break;
		case K_ACTIVATED: rc = on_activated(g, e); break;
		case K_NOT_ACTIVATED: end(g, e, "not_activated"); break;
		case K_EXTENDED: rc = on_extended(g, e); break;
		case K_EXT_REQUESTED: rc = on_ext_requested(g, e); break;
		case K_RECEIPT: rc = on_receipt(s, g, e); break;
		case K_TOKEN: g->tokens++; break;
		case K_REFUSED: g->refusals++; break;
		}
		s->open = s->open + (size_t)is_open(g) - (size_t)was;
		return rc;
	}
	return 0;
}

int
jg_report_scan_new(const struct jg_report_query *q, struct jg_report_scan **out)
{
	*out = NULL;
	if (q->from < 0 || q->to <= q->from || q->to > INT64_MAX / 1000 ||
	    (q->service && !jg_catalog_service_name_valid(q->service)))
		return JG_EINVAL;
	struct jg_report_scan *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return JG_ENOMEM;
	s->from = q->from;
	s->to = q->to;
	s->from_ms = q->from * 1000;
	s->to_ms = q->to * 1000;
	s->first_seq = UINT64_MAX;
	s->index = json_object();
	s->service = q->service ? strdup(q->service) : NULL;
	if (s->index == NULL || (q->service && s->service == NULL)) {
		jg_report_scan_free(s);
		return JG_ENOMEM;
	}
	*out = s;
	return 0;
}

int
jg_report_scan_feed(struct jg_report_scan *s, const json_t *entry, bool *done)
{
	struct ev e = {.type = str(entry, "type"), .actor = str(entry, "actor")};
	json_t *ts = json_object_get(entry, "ts"), *seq = json_object_get(entry, "seq");
	*done = false;
	e.data = json_object_get(entry, "data");
	if (e.type == NULL || e.actor == NULL || !json_is_integer(ts) || !json_is_integer(seq) ||
	    !json_is_object(e.data))
		return 0; /* not an entry (a verified log holds none) */
	e.ts_ms = json_integer_value(ts);
	e.ts = e.ts_ms / 1000;
	e.seq = (uint64_t)json_integer_value(seq);
	if (s->first_seq == UINT64_MAX)
		s->first_seq = e.seq;
	s->last_seq = e.seq;
	s->entries++;
	int rc = apply(s, &e);
	*done = rc == 0 && json_integer_value(ts) >= s->to_ms && s->open == 0;
	return rc;
}

static json_t *
or_null_int(int have, int64_t v)
{
	return have ? json_integer(v) : json_null();
}

static json_t *
grant_json(const struct grec *g)
{
	json_t *actions = json_object(), *flags = json_array(), *summary;
	uint64_t used = 0;
	for (size_t i = 0; actions && i < NACTIONS; i++) {
		used += g->actions[i];
		if (g->actions[i])
			json_object_set_new(actions, action_types[i],
					    json_integer((json_int_t)g->actions[i]));
	}
	if (flags) {
		if (used == 0)
			json_array_append_new(flags, json_string("never_used"));
		if (g->pii_reads > 0)
			json_array_append_new(flags, json_string("read_pii_used"));
		if (g->extensions > 0)
			json_array_append_new(flags, json_string("extended"));
		if (g->break_glass && !g->reviewed)
			json_array_append_new(flags, json_string("break_glass_unreviewed"));
		if (g->state == ENDED && g->start == 0)
			json_array_append_new(flags, json_string("never_started"));
	}
	/* a grant.receipt, when the log has one, is the summary (its data as written) */
	if (g->receipt)
		summary = json_pack("{s:s,s:I,s:O}", "source", "grant.receipt", "seq",
				    (json_int_t)g->receipt_seq, "data", g->receipt);
	else
		summary = json_pack(
		    "{s:s,s:I,s:I,s:O,s:I,s:I,s:I,s:I}", "source", "log", "tokens_issued",
		    (json_int_t)g->tokens, "actions_total", (json_int_t)used, "actions", actions,
		    "pii_reads", (json_int_t)g->pii_reads, "refusals", (json_int_t)g->refusals,
		    "first_seq", (json_int_t)g->first_seq, "last_seq", (json_int_t)g->last_seq);
	const char *state = g->state == ACTIVE	    ? "active"
			    : g->state == SCHEDULED ? "scheduled"
						    : "ended";
	json_t *out = json_pack(
	    "{s:s,s:s,s:s,s:O,s:I,s:I,s:s,s:{s:o,s:o,s:o,s:o},s:O,s:b,s:o,s:o,s:I,s:o,s:o,s:o}",
	    "grant", g->id, "service", g->service, "requester", g->requester, "capabilities",
	    g->caps, "requested_at", (json_int_t)g->requested_at, "duration",
	    (json_int_t)g->duration, "state", state, "window", "start",
	    or_null_int(g->start != 0, g->start), "expires_at",
	    or_null_int(g->expires_at != 0, g->expires_at), "end",
	    or_null_int(g->state == ENDED, g->end), "end_reason",
	    g->state == ENDED ? json_string(g->end_reason) : json_null(), "approvers", g->approvers,
	    "break_glass", g->break_glass, "review",
	    g->reviewed
		? json_pack("{s:s,s:I}", "by", g->reviewed_by, "at", (json_int_t)g->reviewed_at)
		: json_null(),
	    "usage",
	    json_pack("{s:I,s:I,s:O,s:I,s:I,s:I}", "tokens_issued", (json_int_t)g->tokens,
		      "actions_total", (json_int_t)used, "actions", actions, "pii_reads",
		      (json_int_t)g->pii_reads, "refusals", (json_int_t)g->refusals, "probe_events",
		      (json_int_t)g->probe_events),
	    "extensions", (json_int_t)g->extensions, "flags", flags, "receipt",
	    summary ? summary : json_null(), "entries",
	    json_pack("{s:I,s:I}", "first_seq", (json_int_t)g->first_seq, "last_seq",
		      (json_int_t)g->last_seq));
	json_decref(actions);
	if (out && (json_object_set_new(out, "starts_at",
					or_null_int(g->starts_at != 0, g->starts_at)) != 0 ||
		    json_object_set(out, "extension_requests", g->exts) != 0)) {
		json_decref(out);
		out = NULL;
	}
	return out;
}

int
jg_report_scan_finish(struct jg_report_scan *s, json_t **out)
{
	json_t *grants = json_array();
	*out = NULL;
	for (size_t i = 0; grants && i < s->n; i++) {
		if (!s->g[i].granted)
			continue;
		json_t *g = grant_json(&s->g[i]);
		if (g == NULL || json_array_append_new(grants, g) != 0) {
			json_decref(grants);
			return JG_ENOMEM;
		}
	}
	if (grants == NULL)
		return JG_ENOMEM;
	*out = json_pack("{s:I,s:I,s:o,s:o,s:{s:o,s:o,s:I}}", "from", (json_int_t)s->from, "to",
			 (json_int_t)s->to, "service",
			 s->service ? json_string(s->service) : json_null(), "grants", grants,
			 "scanned", "first_seq", or_null_int(s->entries > 0, (int64_t)s->first_seq),
			 "last_seq", or_null_int(s->entries > 0, (int64_t)s->last_seq), "entries",
			 (json_int_t)s->entries);
	return *out ? 0 : JG_ENOMEM;
}

void
jg_report_scan_free(struct jg_report_scan *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		json_decref(s->g[i].caps);
		json_decref(s->g[i].approvers);
		json_decref(s->g[i].exts);
		json_decref(s->g[i].receipt);
	}
	free(s->g);
	json_decref(s->index);
	free(s->service);
	free(s);
}

/* ---- rendering ----------------------------------------------------------------------------- */

/* A growing text buffer (bounded by the report it renders). */
struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
putf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		b->failed = 1;
	else
		put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* One CSV cell (RFC 4180), quoted, formula-looking text made inert. */
static void
cell(struct buf *b, const char *s, int last)
{
	put(b, "\"", 1);
	if (s && (*s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' || *s == '\r'))
		put(b, "'", 1);
	for (const char *c = s ? s : ""; *c; c++) {
		put(b, c, 1);
		if (*c == '"')
			put(b, "\"", 1); /* a quote inside a cell is doubled */
	}
	puts_(b, last ? "\"\r\n" : "\",");
}

/* ISO 8601 UTC of a Unix time, or "" for JSON null. */
static void
iso(const json_t *v, char out[32])
{
	out[0] = '\0';
	if (!json_is_integer(v))
		return;
	time_t t = (time_t)json_integer_value(v);
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

/* The strings of an array joined by a space. */
static void
joined(const json_t *arr, struct buf *b)
{
	json_t *v;
	size_t i;
	json_array_foreach(arr, i, v)
	{
		if (i)
			put(b, " ", 1);
		if (json_is_string(v))
			puts_(b, json_string_value(v));
	}
}

static const char *const csv_columns[] = {
    "grant",	    "service",	   "requester",	   "capabilities",    "requested_at",
    "window_start", "expires_at",  "window_end",   "end_reason",      "approvers",
    "break_glass",  "reviewed_by", "reviewed_at",  "tokens_issued",   "actions_total",
    "logs_read",    "traces_read", "metrics_read", "probes_deployed", "pii_reads",
    "refusals",	    "extensions",  "receipt",	   "flags",
};

int
jg_report_csv(const json_t *report, char **out, size_t *len)
{
	struct buf b = {0};
	const size_t ncol = sizeof(csv_columns) / sizeof(csv_columns[0]);
	json_t *g;
	size_t i;

	*out = NULL;
	*len = 0;
	for (size_t c = 0; c < ncol; c++)
		cell(&b, csv_columns[c], c + 1 == ncol);
	json_array_foreach(json_object_get(report, "grants"), i, g)
	{
		json_t *w = json_object_get(g, "window"), *u = json_object_get(g, "usage");
		json_t *acts = json_object_get(u, "actions"), *rev = json_object_get(g, "review");
		struct buf list = {0};
		char t[5][32], num[10][24];
		iso(json_object_get(g, "requested_at"), t[0]);
		iso(json_object_get(w, "start"), t[1]);
		iso(json_object_get(w, "expires_at"), t[2]);
		iso(json_object_get(w, "end"), t[3]);
		iso(json_object_get(rev, "at"), t[4]);
		json_int_t n[10] = {json_integer_value(json_object_get(u, "tokens_issued")),
				    json_integer_value(json_object_get(u, "actions_total")),
				    json_integer_value(json_object_get(acts, "logs.read")),
				    json_integer_value(json_object_get(acts, "traces.read")) +
					json_integer_value(json_object_get(acts, "traces.search")),
				    json_integer_value(json_object_get(acts, "metrics.read")),
				    json_integer_value(json_object_get(acts, "probe.deploy")),
				    json_integer_value(json_object_get(u, "pii_reads")),
				    json_integer_value(json_object_get(u, "refusals")),
				    json_integer_value(json_object_get(g, "extensions")),
				    0};
		for (int k = 0; k < 9; k++)
			snprintf(num[k], sizeof(num[k]), "%lld", (long long)n[k]);
		cell(&b, str(g, "grant"), 0);
		cell(&b, str(g, "service"), 0);
		cell(&b, str(g, "requester"), 0);
		joined(json_object_get(g, "capabilities"), &list);
		cell(&b, list.p, 0);
		list.len = 0;
		if (list.p)
			list.p[0] = '\0';
		for (int k = 0; k < 4; k++)
			cell(&b, t[k], 0);
		cell(&b, str(w, "end_reason"), 0);
		joined(json_object_get(g, "approvers"), &list);
		cell(&b, list.p, 0);
		list.len = 0;
		if (list.p)
			list.p[0] = '\0';
		cell(&b, json_is_true(json_object_get(g, "break_glass")) ? "yes" : "no", 0);
		cell(&b, str(rev, "by"), 0);
		cell(&b, t[4], 0);
		for (int k = 0; k < 9; k++)
			cell(&b, num[k], 0);
		cell(&b, str(json_object_get(g, "receipt"), "source"), 0);
		joined(json_object_get(g, "flags"), &list);
		cell(&b, list.p, 1);
		b.failed |= list.failed;
		free(list.p);
	}
	if (b.failed || b.p == NULL) {
		free(b.p);
		return JG_ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

int
jg_report_text(const json_t *report, char **out)
{
	struct buf b = {0};
	json_t *g;
	size_t i;
	char from[32], to[32];

	*out = NULL;
	iso(json_object_get(report, "from"), from);
	iso(json_object_get(report, "to"), to);
	putf(&b, "access review %s .. %s, %s: %zu grant(s)\n", from, to,
	     str(report, "service") ? str(report, "service") : "every service",
	     json_array_size(json_object_get(report, "grants")));
	json_array_foreach(json_object_get(report, "grants"), i, g)
	{
		json_t *w = json_object_get(g, "window"), *u = json_object_get(g, "usage");
		json_t *rev = json_object_get(g, "review");
		struct buf list = {0};
		char t[3][32];
		iso(json_object_get(w, "start"), t[0]);
		iso(json_object_get(w, "end"), t[1]);
		iso(json_object_get(rev, "at"), t[2]);
		putf(&b, "\n%s  %s  %s\n", str(g, "grant"), str(g, "service"), str(g, "requester"));
		joined(json_object_get(g, "capabilities"), &list);
		putf(&b, "  capabilities: %s\n", list.p ? list.p : "");
		free(list.p);
		list = (struct buf){0};
		putf(&b, "  window: %s .. %s (%s)\n", *t[0] ? t[0] : "not started",
		     *t[1] ? t[1] : "-",
		     str(w, "end_reason") ? str(w, "end_reason") : str(g, "state"));
		joined(json_object_get(g, "approvers"), &list);
		putf(&b, "  approvers: %s\n",
		     list.p && *list.p ? list.p : "none (granted at once)");
		free(list.p);
		list = (struct buf){0};
		if (json_is_true(json_object_get(g, "break_glass")))
			putf(&b, "  break-glass: %s\n",
			     json_is_object(rev) ? "reviewed" : "NOT REVIEWED");
		if (json_is_object(rev))
			putf(&b, "  reviewed by %s at %s\n", str(rev, "by"), t[2]);
		putf(
		    &b,
		    "  usage: %lld token(s), %lld action(s), %lld with read-pii, %lld refusal(s)\n",
		    (long long)json_integer_value(json_object_get(u, "tokens_issued")),
		    (long long)json_integer_value(json_object_get(u, "actions_total")),
		    (long long)json_integer_value(json_object_get(u, "pii_reads")),
		    (long long)json_integer_value(json_object_get(u, "refusals")));
		putf(&b, "  receipt: %s\n", str(json_object_get(g, "receipt"), "source"));
		joined(json_object_get(g, "flags"), &list);
		putf(&b, "  flags: %s\n", list.p && *list.p ? list.p : "none");
		b.failed |= list.failed;
		free(list.p);
	}
	if (b.failed) {
		free(b.p);
		return JG_ENOMEM;
	}
	*out = b.p;
	return 0;
}
