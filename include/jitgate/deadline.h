/*
 * deadline.h - cut off connections that are too slow to send a request.
 *
 * libmicrohttpd's connection timeout counts idle time only: a client that
 * sends one header byte every few seconds ("slowloris") is never idle and
 * would hold its connection, and its thread, for ever.  Here every
 * connection is given until a deadline to deliver a whole request (TLS
 * handshake, headers and body): armed when the connection opens and again
 * when a request on it completes, disarmed when a request is complete and
 * its handler runs.  A watchdog thread shuts down (shutdown(2), never
 * close: the server still owns the descriptor) every connection past its
 * deadline, so its thread wakes and libmicrohttpd closes it.
 *
 * The table of slots is allocated once (one per allowed connection).
 * Thread-safe.  Times are milliseconds of CLOCK_MONOTONIC.
 */
#ifndef JITGATE_DEADLINE_H
#define JITGATE_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

struct jg_deadline;
struct jg_deadline_slot;

/* A table of nslots slots; connections get timeout_ms.  NULL when out of memory. */
struct jg_deadline *jg_deadline_new(size_t nslots, int64_t timeout_ms);
/* Starts the watchdog thread (sweeps every 200 ms).  0 or JG_ENOMEM. */
int jg_deadline_start(struct jg_deadline *d);
/* Stops the thread (if started) and frees the table.  NULL is a no-op. */
void jg_deadline_free(struct jg_deadline *d);

/* Tracks socket fd, armed for now_ms + timeout.  NULL when every slot is taken (untracked). */
struct jg_deadline_slot *jg_deadline_open(struct jg_deadline *d, int fd, int64_t now_ms);
/* Re-arms slot for now_ms + timeout (a request completed; the next one has until then). */
void jg_deadline_arm(struct jg_deadline *d, struct jg_deadline_slot *slot, int64_t now_ms);
/* The request is complete: no deadline while it is handled and answered. */
void jg_deadline_disarm(struct jg_deadline *d, struct jg_deadline_slot *slot);
/* The connection closed: frees the slot.  NULL slot is a no-op. */
void jg_deadline_close(struct jg_deadline *d, struct jg_deadline_slot *slot);

/* Shuts down every armed connection past its deadline at now_ms; returns how many. */
size_t jg_deadline_sweep(struct jg_deadline *d, int64_t now_ms);
/* Connections cut off so far. */
unsigned long long jg_deadline_cut_total(struct jg_deadline *d);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t jg_deadline_now(void);

#endif
