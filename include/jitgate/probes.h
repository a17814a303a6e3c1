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

#define JG_PROBE_ID_MAX	    64	  /* bytes of a probe id */
#define JG_PROBE_LIST_MAX   500	  /* probes a list shows */
#define JG_PROBE_MAX_EVENTS 10000 /* events stored per probe; then ingest is refused */

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
 * Stores probe p at now: its id into id and its end (now + spec duration,
 * clipped to the grant's end) into *expires_at.  0, JG_ECRYPTO (no id) or
 * JG_ESTORE.
 */
int jg_probe_create(struct jg_store *s, const struct jg_probe_new *p, int64_t now,
		    char id[JG_PROBE_ID_MAX], int64_t *expires_at);

/*
 * The live probes of service at now, oldest first, at most JG_PROBE_LIST_MAX:
 * *probes = [{id, grant, function, capture_args, capture_return,
 * sampling_rate, conditions, created_by, created_at, expires_at, events}]
 * (caller decrefs), events being the number of its events stored now.  With redact, the values of
 * conditions on personal data (sensitive_fields, pii.h) are redacted.  0; JG_EUNAVAIL (the store);
 * JG_ENOMEM (a list that could not be redacted is not returned).
 */
int jg_probe_list_live(struct jg_store *s, const char *service, int64_t now, bool redact,
		       char *const *sensitive_fields, json_t **probes);

/*
 * What an agent of service runs at now: its live probes as [{id, function,
 * capture_args, capture_return, sampling_rate, conditions, expires_at}]
 * (caller decrefs).  0 or JG_EUNAVAIL.
 */
int jg_probe_live_for_agent(struct jg_store *s, const char *service, int64_t now, json_t **probes);

/*
 * Deletes probe id of grant on service at now (only the grant's own probes:
 * another holder of deploy-probe cannot remove them).  0, JG_ENOTFOUND (no
 * such live probe of this grant on this service) or JG_EUNAVAIL.
 */
int jg_probe_delete(struct jg_store *s, const char *service, const char *grant, const char *id,
		    int64_t now);

/*
 * Stores events texts[0..n) (compact JSON, checked whole by the caller) for
 * probe of service, sent with ingest key key_id, in one transaction of the
 * audit writer together with one probe.events.ingested entry (count, ids
 * and the SHA-256 of what was stored).  The probe's liveness is re-read in
 * that transaction, so a revocation that commits first wins.  Returns 0
 * with the ids stored in *first_id..*last_id; JG_ENOTFOUND (no such probe
 * of this service), JG_ECONFLICT (not live), JG_ETOOBIG (past
 * JG_PROBE_MAX_EVENTS); anything else: nothing was stored.
 */
int jg_probe_events_ingest(struct jg_audit *a, const char *service, const char *key_id,
			   const char *probe, char *const *texts, size_t n, int64_t now,
			   int64_t *first_id, int64_t *last_id);

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
 * service); JG_EUNAVAIL (no store connection); JG_ESTORE (reading failed).
 */
int jg_probe_events_read(struct jg_store *s, const struct jg_probe_events_query *q, json_t **events,
			 int64_t *last);

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
