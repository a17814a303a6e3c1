/*
 * notify_events.h - the vocabulary of notifications: the event types
 * (docs/notifications.md, "Events") with the headline a person reads first,
 * and the audiences an event can be for.
 *
 * It sits with the configuration (config validates a sink's `events` and
 * `audiences` against it) so that config does not reach up into notify;
 * notify routes and renders with the same tables.  Pure and thread-safe.
 */
#ifndef JITGATE_NOTIFY_EVENTS_H
#define JITGATE_NOTIFY_EVENTS_H

#include <stdbool.h>

/* Who an event is for (bits; an event may have several). */
#define JG_NOTIFY_APPROVERS 0x1	 /* the request's eligible approvers (or reviewers) */
#define JG_NOTIFY_REQUESTER 0x2	 /* the person who asked */
#define JG_NOTIFY_SECURITY  0x4	 /* the security channel */
#define JG_NOTIFY_OPERATORS 0x8	 /* whoever runs jitgate */
#define JG_NOTIFY_OWNERS    0x10 /* a service's owner groups (the catalog) */

/* True for the event types of docs/notifications.md ("request.pending", ...). */
bool jg_notify_event_known(const char *type);

/* The headline of event type (static), or NULL for an unknown or NULL type. */
const char *jg_notify_event_title(const char *type);

/* True for approvers, requester, security, operators. */
bool jg_notify_audience_known(const char *name);

/* The JG_NOTIFY_* bit of an audience name; 0 for an unknown name. */
unsigned jg_notify_audience_bit(const char *name);

/* The name of one JG_NOTIFY_* bit (static), or NULL when bit is not exactly one of them. */
const char *jg_notify_audience_name(unsigned bit);

#endif
