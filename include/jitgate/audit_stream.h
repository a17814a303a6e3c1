/*
 * audit_stream.h - forwards every audit entry, in order, to a SIEM
 * (docs/notifications.md, "Audit streaming").
 *
 * One thread reads the log from the position stored for the destination
 * (table audit_stream: the next seq to send), sends a batch, and advances
 * the stored position only once the receiver acknowledged it.  So delivery
 * is at-least-once and in order: after a crash, a restart or an outage the
 * stream resumes at the first unacknowledged entry, and the only
 * duplicates are the entries of a batch that was received but not yet
 * acknowledged - each carries its seq, so a receiver recognises them.
 *
 * Destinations:
 *   webhook  HTTPS POST of a batch as JSON Lines (the entries' exact bytes),
 *            acknowledged by a 2xx; optionally signed like notifications.
 *   syslog   RFC 5424 messages over TLS (RFC 5425 octet-counting framing),
 *            one connection per batch; the batch counts as acknowledged when
 *            the receiver answers our TLS close_notify with its own, which
 *            it can only do after reading everything sent before it.
 */
#ifndef JITGATE_AUDIT_STREAM_H
#define JITGATE_AUDIT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "jitgate/config.h"
#include "jitgate/store.h"

struct jg_audit_stream;

/*
 * An RFC 5424 message for one audit entry (entry, len: its exact bytes),
 * framed for RFC 5425: "<len> <PRI>1 <time> <host> jitgate - audit
 * [jitgate@32473 seq=\"N\" type=\"T\"] <entry>".  Facility 13 (log audit),
 * severity 6 (informational).  The time is the entry's ts (UTC,
 * milliseconds).  *out is the caller's.  JG_EINVAL when the entry is not
 * an audit entry (no integer seq and ts, no type).
 */
int jg_audit_stream_syslog_frame(const char *entry, size_t len, const char *hostname, char **out,
				 size_t *outlen);

/*
 * Sets up the stream of cfg (NULL in *out when none is configured), its
 * position kept in store's audit_stream table.  cfg and store are borrowed
 * and must outlive the stream.  JG_ECONFIG with err when the secret file
 * cannot be read, JG_ENOMEM.
 */
int jg_audit_stream_new(struct jg_store *store, const struct jg_config *cfg,
			struct jg_audit_stream **out, char *err, size_t errlen);
/* Starts the thread (thread.h; NULL is a no-op).  0 or JG_ENOMEM. */
int jg_audit_stream_start(struct jg_audit_stream *s);
/* Stops the thread (a batch in flight ends by its timeout).  Safe twice; NULL is a no-op. */
void jg_audit_stream_stop(struct jg_audit_stream *s);
void jg_audit_stream_free(struct jg_audit_stream *s);

/* Prometheus text: the acknowledged position, entries sent, failed batches.  "" for NULL. */
char *jg_audit_stream_metrics(struct jg_audit_stream *s);

#endif
