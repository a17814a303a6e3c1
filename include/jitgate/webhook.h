/*
 * webhook.h - the signature on jitgate's outbound webhooks: notifications
 * (notify.h) and the audit stream (audit_stream.h) sign their deliveries
 * the same way, so a receiver verifies both with one function
 * (docs/notifications.md, "Verifying a delivery").
 */
#ifndef JITGATE_WEBHOOK_H
#define JITGATE_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

/* Hex HMAC-SHA256 with its "sha256=" prefix: 7 + 64 + NUL. */
#define JG_WEBHOOK_SIG_LEN 72

/*
 * The signature of a delivery: "sha256=" + hex(HMAC-SHA256(key, "<ts>." +
 * body)), ts the decimal Unix seconds sent in X-Jitgate-Timestamp.  Returns
 * 0 or JG_ECRYPTO.
 */
int jg_webhook_sign(const void *key, size_t keylen, int64_t ts, const char *body, size_t len,
		    char out[JG_WEBHOOK_SIG_LEN]);

#endif
