/*
 * probes.h - dynamic probes (docs/api.md) and the events agents capture
 * for them (docs/agents.md).  probes.c owns the probes and probe_events
 * tables.
 *
 * A probe belongs to the grant that deployed it.  It is live while it is
 * not deleted, not past its expires_at (which never passes its grant's
 * end), and its grant is active and not past its end (access.h,
 * jg_access_grant_live): revoking or expiring the grant disables it at
 * once.  expires_at never changes, so an expired probe is never served
 * again.  Times are Unix seconds of jitgate's clock, given by the caller.
 */
#ifndef JITGATE_PROBES_H
#define JITGATE_PROBES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/audit.h"
#include "jitgate/store.h"

#define JG_PROBE_ID_MAX	   64  /* bytes of a probe id */
#define JG_PROBE_LIST_MAX  500 /* probes a list shows */
#define JG_PROBE_BATCH_MAX 100 /* events in one batch (JG_AGENTS_MAX_BATCH) */
/*
 * The rate measured on arrival holds this many seconds' worth of events at
 * once: an agent keeping the rate itself (a burst of one second's worth)
 * posts what it captured when it is up to 2 seconds old, so its batches
 * arrive that much bunched up.
 */
#define JG_PROBE_RATE_BURST_SECONDS 3

/*
 * The limits of one probe (docs/agents.md, "Limits"): each member has a
 * default and bounds; the server enforces max_hits, the rate and the shape
 * (depth, string bytes, collection items, fields) of what it stores, the
 * agent all of them (max_cpu_ms_per_second only the agent can measure).
 */
struct jg_probe_limits {
	int64_t max_hits, max_events_per_second, max_depth, max_string_bytes, max_collection_items,
	    max_fields, max_cpu_ms_per_second;
};

/*
 * Reads a deploy body's "limits" (NULL: absent) into *out, defaults for the
 * members left out.  0; JG_EINVAL with *bad the offending member's name
 * ("limits" for a non-object or an unknown member) and why (a sentence) when
 * it is not an integer within its bounds.
 */
int jg_probe_limits_parse(const json_t *limits, struct jg_probe_limits *out, const char **bad,
			  char *why, size_t why_len);

/* The limits as the API shows them: an object with all seven members (caller decrefs). */
json_t *jg_probe_limits_json(const struct jg_probe_limits *l);

/*
 * Whether one event's captured values fit l (docs/agents.md, "Shape"):
 * each member of "args" and the "return" and "error" values at depth 1,
 * nothing deeper than max_depth, no string longer than max_string_bytes,
 * no array longer than max_collection_items, no object with more than
 * max_fields members ("args" itself included; "args" is an object or null,
 * anything else does not fit).  The event's other members are not captured
 * values and are not checked here.
 */
bool jg_probe_event_fits(const json_t *event, const struct jg_probe_limits *l);

/* Probe ids are "prb_" and base64url: anything else names no probe. */
#define JG_PROBE_ID_PREFIX "prb_"
bool jg_probe_id_valid(const char *id);

/* A probe to deploy. */
struct jg_probe_new {
	const char *service, *grant;
	const char *actor;     /* "user:<sub>": created_by */
	const json_t *spec;    /* a body accepted by jg_api_probes_validate() (app.h) */
	int64_t grant_expires; /* the probe never outlives it */
	const char *id;	       /* the id its probe.deploy entry recorded (jg_guard_creating); NULL:
				  a new one */
};

/*
 * Stores probe p at now, in one transaction of the audit writer: its id into
 * id and its end (now + spec duration, clipped to the grant's end) into
 * *expires_at, after its grant's budget (docs/policies.md, "Probe budgets"):
 * the grant's usage row locked, the probe counted against max_probes.  *usage
 * (caller decrefs) is then the grant's budget and usage as the probe list
 * shows it ({grant, budget, used, remaining, probes_exhausted,
 * events_exhausted}).  0; JG_EDENIED (beyond the budget: max_probes reached,
 * or its events budget spent; nothing stored, *usage says which; the first
 * refusal for max_probes writes probe.budget_exhausted); JG_ECRYPTO (no id);
 * JG_ESTORE.
 */
int jg_probe_create(struct jg_audit *a, const struct jg_probe_new *p, int64_t now,
		    char id[JG_PROBE_ID_MAX], int64_t *expires_at, json_t **usage);

/*
 * What jg_probe_create would do with p at now, without doing it: the end it
 * would get (clipped to the grant's end) into *expires_at and the grant's
 * budget and usage now into *usage (caller decrefs; nothing is locked and
 * nothing counted).  0; JG_EDENIED (the deploy would be refused for the
 * budget, *usage says which); JG_ENOTFOUND (no such grant), JG_EUNAVAIL,
 * JG_ENOMEM.
 */
int jg_probe_preview(struct jg_store *s, const struct jg_probe_new *p, int64_t now,
		     int64_t *expires_at, json_t **usage);

/*
 * The probe budget of grant and what it spent so far, as jg_probe_create's
 * *usage (caller decrefs).  0, JG_ENOTFOUND (no such grant), JG_EUNAVAIL,
 * JG_ENOMEM.
 */
int jg_probe_budget_read(struct jg_store *s, const char *grant, json_t **out);

/*
 * The live probes of service at now, oldest first, at most JG_PROBE_LIST_MAX:
 * *probes = [{id, grant, function, capture_args, capture_return,
 * sampling_rate, conditions, created_by, created_at, expires_at, limits, events, kind,
 * template?, metric?, args?}] (caller decrefs), events being the number of its events stored now,
 * template a log probe's, args a native probe's declared arguments (each absent when it has
 * none); where each is installed is probe_status's to add (jg_probe_status_attach).  With
 * redact, the values of conditions on personal data (sensitive_fields, pii.h) are redacted.
 * 0; JG_EUNAVAIL (the store); JG_ENOMEM (a list that could not be redacted is not returned).
 */
int jg_probe_list_live(struct jg_store *s, const char *service, int64_t now, bool redact,
		       char *const *sensitive_fields, json_t **probes);

/*
 * What an agent of service runs at now: its live probes as [{id, function,
 * capture_args, capture_return, sampling_rate, conditions, expires_at, limits, args?}]
 * (caller decrefs; args as deployed, absent when none).  0 or JG_EUNAVAIL.
 */
int jg_probe_live_for_agent(struct jg_store *s, const char *service, int64_t now, json_t **probes);

/*
 * *yes when id is a probe of service (deleted, ended or not), on conn (the
 * caller's, maybe inside its transaction).  0 or JG_ESTORE.
 */
int jg_probe_of_service(struct jg_store_conn *conn, const char *service, const char *id, bool *yes);

/*
 * Deletes probe id of grant on service at now (only the grant's own probes:
 * another holder of deploy-probe cannot remove them).  0, JG_ENOTFOUND (no
 * such live probe of this grant on this service) or JG_EUNAVAIL.
 */
int jg_probe_delete(struct jg_store *s, const char *service, const char *grant, const char *id,
		    int64_t now);

/* What one batch came to (jg_probe_events_ingest). */
struct jg_probe_ingest_result {
	size_t stored;		   /* events stored, in order */
	int64_t first_id, last_id; /* their ids (0 when none) */
	size_t nrefused;
	struct {
		size_t index;	  /* in the batch */
		const char *code; /* "max_hits", "budget", "rate" or "over_limits" (static) */
	} refused[JG_PROBE_BATCH_MAX];
	bool disabled;	       /* the probe is disabled now (its max_hits, or its grant's budget) */
	bool budget_exhausted; /* this batch spent its grant's budget: every probe of it disabled */
};

/*
 * Stores the events texts[0..n) (compact JSON objects, n at most
 * JG_PROBE_BATCH_MAX, checked by the caller) that fit probe of service,
 * sent with ingest key key_id, in one transaction of the audit writer.  In
 * it: the probe's row is read (locked FOR UPDATE on PostgreSQL, so two
 * replicas take turns) with its liveness, limits and token bucket; its
 * stored events are counted; then each event in order is refused
 * "over_limits" when it does not fit the shape (jg_probe_event_fits),
 * "max_hits" when the probe holds max_hits events, "rate" when the bucket
 * (max_events_per_second a second, burst JG_PROBE_RATE_BURST_SECONDS times that, refilled
 * from its last use to now_ms, in milliseconds) holds less than one token,
 * and stored otherwise; events are received at now_ms / 1000 (seconds).  The bucket is
 * written back; one probe.events.ingested entry records what was stored
 * (when anything was), and when the probe now holds max_hits events it is
 * disabled with a probe.disabled entry.  A revocation that commits first
 * wins.  0 with *r filled; JG_ENOTFOUND (no such probe of this service),
 * JG_ECONFLICT (not live), JG_EDENIED (disabled); anything else: nothing
 * was stored.
 */
int jg_probe_events_ingest(struct jg_audit *a, const char *service, const char *key_id,
			   const char *probe, char *const *texts, size_t n, int64_t now_ms,
			   struct jg_probe_ingest_result *r);

/*
 * The agent of service reports that its CPU guard disabled probe (cost
 * cpu_ms_per_second): the probe is disabled ("cpu") with a probe.disabled
 * entry in one transaction of the audit writer.  0; JG_ENOTFOUND (no such
 * probe of this service), JG_ECONFLICT (not live, or already disabled);
 * anything else: nothing changed.
 */
int jg_probe_disable_cpu(struct jg_audit *a, const char *service, const char *key_id,
			 const char *probe, double cpu_ms_per_second, int64_t now);

/* A page of the events of one probe, for the holder of its grant. */
struct jg_probe_events_query {
	const char *service, *grant, *probe;
	int64_t after; /* events with ids above it */
	size_t limit;
	bool redact;		       /* the reader lacks read-pii */
	char *const *sensitive_fields; /* withheld whole when redacting (redact.h) */
};

/*
 * *events = [{id, received_at, event}] in id order (caller decrefs; an
 * event that could not be redacted is null with "withheld"), *last the
 * last id (-1: none).  0; JG_ENOTFOUND (not a probe of this grant on this
 * service); JG_ECONFLICT (a metric probe: its points are read as a metric,
 * jg_probe_metric_read); JG_EUNAVAIL (no store connection); JG_ESTORE
 * (reading failed).
 */
int jg_probe_events_read(struct jg_store *s, const struct jg_probe_events_query *q, json_t **events,
			 int64_t *last);

/* What a read of metric probes' points asks (jg_probe_metric_names, jg_probe_metric_read). */
struct jg_probe_metric_query {
	const char *service;
	int64_t since, until; /* Unix ns: points with since <= time < until */
	int64_t step_ns;      /* 0: every point; else their total per step-aligned window */
	bool redact;	      /* the reader lacks read-pii */
	char *const *sensitive_fields; /* pii.h */
};

#define JG_PROBE_METRIC_POINTS_MAX 10000 /* a probe's points read at once (max_hits' bound) */

/*
 * Appends to metrics the metric probes of q->service (ended ones too) with
 * points received in the window, as jg_telemetry_metric_names lists
 * metrics ({name: "probe.<id>", kind: sum or histogram, unit, description,
 * points, last}, plus function), by id, at most 1000.  For a reader without
 * read-pii, a probe whose conditions or histogram field are on personal
 * data (the condition-oracle rule) is left out.  0, JG_EUNAVAIL, JG_ESTORE.
 */
int jg_probe_metric_names(struct jg_store *s, const struct jg_probe_metric_query *q,
			  json_t *metrics);

/*
 * Whether metric probe `probe` of service is on personal data as above (its
 * conditions or histogram field; fields: pii.h): asked before the guard, so
 * that reading it needs read-pii and a token without it is refused and
 * recorded as such.  0; JG_ENOTFOUND (no metric probe of that id there);
 * JG_EUNAVAIL; JG_ESTORE.
 */
int jg_probe_metric_sensitive(struct jg_store *s, const char *service, const char *probe,
			      char *const *fields, bool *sensitive);

/*
 * The points of metric probe `probe` of q->service (probe_metric.h,
 * jg_probe_metric_series) into *metrics (caller decrefs).  0; JG_ENOTFOUND
 * (no metric probe of that id on this service); JG_EDENIED (a reader
 * without read-pii, a probe on personal data as above); JG_ETOOBIG (past
 * JG_PROBE_METRIC_POINTS_MAX points); JG_EUNAVAIL; JG_ESTORE; JG_ENOMEM.
 */
int jg_probe_metric_read(struct jg_store *s, const struct jg_probe_metric_query *q,
			 const char *probe, json_t **metrics);

/*
 * Deletes captured probe events received before `before` (Unix seconds), in
 * batches so no write holds the database for long; *deleted counts them.
 */
int jg_probe_events_sweep(struct jg_store *store, int64_t before, int64_t *deleted);

/*
 * Probes and their captured events, declared for `jitgate store copy` (store.h, struct
 * jg_store_table): *n receives how many; the array is static.
 */
const struct jg_store_table *jg_probe_tables(size_t *n);

#endif
