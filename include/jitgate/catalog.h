/*
 * catalog.h - the service catalog and the ingest keys of its services.
 *
 * A service is a name (lower-case letters, digits, '-' and '.', at most 63,
 * as in access requests) with the groups that own it.  Its agents speak to
 * jitgate with an ingest key: "jgk_" followed by the base64url of 32 random
 * bytes (47 characters).  The key is shown once, when it is made; the store
 * keeps only SHA-256 of the key string, so a copy of the database holds no
 * usable key.  A service has at most one active key: `create` refuses when
 * one exists, `rotate` replaces it (the old one stops working in the same
 * transaction), `revoke` ends it.  Removing a service revokes its key.
 *
 * Every change runs through the audit writer with its audit entry
 * (service.added, service.removed, ingest_key.created, ingest_key.rotated,
 * ingest_key.revoked): both commit or neither does.
 *
 * Functions return 0 or a negative JG_E* code: JG_EINVAL (bad name or
 * owners), JG_ENOTFOUND (no such live service, or no active key),
 * JG_ECONFLICT (the service exists / a key is already active), JG_EUNAVAIL
 * (the audit log cannot be written: nothing happened), JG_ESTORE.
 *
 * Thread-safe: state lives in the store; the functions keep none.
 */
#ifndef JITGATE_CATALOG_H
#define JITGATE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/audit.h"
#include "jitgate/store.h"

#define JG_SERVICE_NAME_MAX   63
#define JG_SERVICE_OWNERS_MAX 16
#define JG_GROUP_NAME_MAX     128
#define JG_INGEST_KEY_PREFIX  "jgk_"
#define JG_INGEST_KEY_LEN     47 /* "jgk_" + 43 base64url characters */
#define JG_INGEST_KEY_ID_MAX  31 /* "igk_" + 16 base64url characters */

/* Who and when, for the changes below. */
struct jg_catalog_ctx {
	struct jg_store *store;
	struct jg_audit *audit;
	const char *actor; /* the audit actor: "operator:<unix user>" from the CLI */
	int64_t now;	   /* Unix seconds of this operation */
};

/* An authenticated agent: the service its key belongs to, and the key's id. */
struct jg_ingest_caller {
	char service[JG_SERVICE_NAME_MAX + 1];
	char key_id[JG_INGEST_KEY_ID_MAX + 1];
};

/* True when name is a valid service name. */
bool jg_catalog_service_name_valid(const char *name);
/* True when group is a valid owner group name (1..128 of [A-Za-z0-9._:@/-]). */
bool jg_catalog_group_valid(const char *group);

/*
 * 0 when name is a live service of the catalog (on a connection of its
 * own); JG_ENOTFOUND when it is not (or is no valid name), JG_ESTORE.
 */
int jg_catalog_service_exists(struct jg_store *store, const char *name)
    __attribute__((warn_unused_result));

/*
 * Adds service name owned by owners[0..nowners) (1 to 16 groups; duplicates
 * dropped).  A removed service can be added again.  JG_ECONFLICT when it
 * exists.
 */
int jg_catalog_service_add(const struct jg_catalog_ctx *ctx, const char *name,
			   const char *const *owners, size_t nowners)
    __attribute__((warn_unused_result));

/* Removes service name and revokes its active ingest key.  JG_ENOTFOUND when not live. */
int jg_catalog_service_remove(const struct jg_catalog_ctx *ctx, const char *name)
    __attribute__((warn_unused_result));

/*
 * The live services, by name: a new array (caller decrefs) of
 * {"name", "owners":[...], "created_at", "ingest_key": {"id","created_at"} | null}.
 */
int jg_catalog_service_list(struct jg_store *store, json_t **out);

/*
 * The owner groups of live service name: *owners, a new array of strings
 * (the caller decrefs).  JG_ENOTFOUND (no such live service), JG_ESTORE.
 */
int jg_catalog_service_owners(struct jg_store *store, const char *name, json_t **owners)
    __attribute__((warn_unused_result));

/*
 * Makes the first ingest key of service.  key receives the key string (NUL
 * terminated), id its id.  The caller shows key once and wipes it with
 * OPENSSL_cleanse/explicit_bzero.  JG_ENOTFOUND: no such live service;
 * JG_ECONFLICT: it has an active key (rotate it instead); JG_EINVAL: key is
 * NULL.
 */
int jg_catalog_key_create(const struct jg_catalog_ctx *ctx, const char *service,
			  char key[JG_INGEST_KEY_LEN + 1], char id[JG_INGEST_KEY_ID_MAX + 1])
    __attribute__((warn_unused_result));

/* As create, replacing the active key, which is revoked.  JG_ENOTFOUND: no active key. */
int jg_catalog_key_rotate(const struct jg_catalog_ctx *ctx, const char *service,
			  char key[JG_INGEST_KEY_LEN + 1], char id[JG_INGEST_KEY_ID_MAX + 1])
    __attribute__((warn_unused_result));

/* Revokes the active key of service; id receives its id.  JG_ENOTFOUND: none. */
int jg_catalog_key_revoke(const struct jg_catalog_ctx *ctx, const char *service,
			  char id[JG_INGEST_KEY_ID_MAX + 1]) __attribute__((warn_unused_result));

/*
 * Authenticates an agent's key (the "jgk_..." string, without "Bearer ").
 * SHA-256 of key is compared with CRYPTO_memcmp against every active key of
 * a live service (one per service; no early exit), so neither the time nor
 * the query depends on the stored hashes.  Returns 0 with *caller filled,
 * JG_EDENIED (malformed, unknown, revoked, or its service removed) or
 * JG_ESTORE.
 */
int jg_catalog_ingest_auth(struct jg_store *store, const char *key, struct jg_ingest_caller *caller)
    __attribute__((warn_unused_result));

/*
 * The service catalog and its ingest keys, declared for `jitgate store copy` (store.h, struct
 * jg_store_table): *n receives how many; the array is static.
 */
const struct jg_store_table *jg_catalog_tables(size_t *n);

#endif
