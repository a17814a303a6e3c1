/*
 * notify.h - notifications: events, routing, the durable outbox and its
 * delivery (docs/notifications.md).
 *
 * A change that must be told to someone (a request waiting for approval, a
 * decision, break-glass use, a grant about to end, an operator alert) is
 * queued with jg_notify_request() on the connection of the transaction
 * that makes the change: one notify_outbox row per sink the event routes
 * to, committed or rolled back with the change.  A worker thread per sink
 * delivers its rows with bounded timeouts, retries with exponential
 * backoff, and marks a row 'dead' after the configured number of attempts.
 * Delivery is at-least-once; each row's id is the idempotency key the
 * receiver sees on every attempt.  Nothing here runs on a request's thread
 * except the insert, so a slow or dead receiver never slows a request.
 *
 * Pure helpers (notify_payload.c): the webhook and Slack message bodies.
 * The event types and audiences are notify_events.h's; deliveries are
 * signed with webhook.h and retried after backoff.h's delay.  Everything
 * else is notify.c.
 */
#ifndef JITGATE_NOTIFY_H
#define JITGATE_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/config.h"
#include "jitgate/notify_events.h"
#include "jitgate/store.h"

struct jg_notify;
struct jg_audit;

/*
 * The request body for a sink of type "webhook" (the event itself, compact
 * JSON) or "slack" (text and blocks for an incoming webhook, with the deep
 * link).  event is borrowed; the caller frees the string.  NULL when out of
 * memory or the type is unknown.
 */
char *jg_notify_body(const char *sink_type, json_t *event);

/*
 * Sets up the sinks of cfg (reads their secret files).  store holds the
 * outbox; audit (may be NULL) is watched for the operator alert when the
 * log stops verifying.  All three are borrowed and must outlive n.
 * JG_ECONFIG with err when a secret cannot be read, JG_ENOMEM.  *out is
 * the caller's; no threads run until jg_notify_start().
 */
int jg_notify_new(struct jg_store *store, struct jg_audit *audit, const struct jg_config *cfg,
		  struct jg_notify **out, char *err, size_t errlen);

/*
 * Starts one delivery thread per sink and the timer thread (operator
 * alerts, pruning), both on thread.h.  With no sinks, none.  0 or JG_ENOMEM.
 */
int jg_notify_start(struct jg_notify *n);

/* Stops the threads (an attempt in flight ends by its timeout).  Safe twice. */
void jg_notify_stop(struct jg_notify *n);

/* NULL is a no-op. */
void jg_notify_free(struct jg_notify *n);

/* True when at least one sink is configured (otherwise queuing is a no-op). */
bool jg_notify_active(const struct jg_notify *n);

/*
 * Queues event `type` about `request` (the request as the API shows it,
 * plus "requester_groups"; borrowed) for `audiences` (JG_NOTIFY_* bits) on
 * conn, inside the caller's transaction.  approvers (borrowed; may be
 * NULL) is {"groups":[...],"users":[...]} to address; NULL means the
 * approvers named by the request's requirements.  Returns 0 (also when n
 * is NULL or nothing routes), JG_ESTORE or JG_ENOMEM: the caller's
 * transaction must then fail, so a change never commits without its
 * notifications.
 */
int jg_notify_request(const struct jg_notify *n, struct jg_store_conn *conn, const char *type,
		      json_t *request, unsigned audiences, json_t *approvers);

/*
 * Queues "report.review_due" for the owners (owner groups, borrowed) of
 * service on conn, inside the caller's transaction: the access review of
 * [from, to) (Unix seconds) is due; the event links the report
 * (/v1/reports/access) and its page.  Returns as jg_notify_request().
 */
int jg_notify_review_due(const struct jg_notify *n, struct jg_store_conn *conn, const char *service,
			 json_t *owners, int64_t from, int64_t to);

/*
 * Counters (delivered, retried, dead-lettered per sink since start) and the
 * outbox's pending and dead rows, in the Prometheus text format.  The
 * caller frees it; "" when there are no sinks, NULL when out of memory.
 */
char *jg_notify_metrics(struct jg_notify *n);

/*
 * The notification outbox, declared for `jitgate store copy` (store.h, struct jg_store_table):
 * *n receives how many; the array is static.
 */
const struct jg_store_table *jg_notify_tables(size_t *n);

#endif
