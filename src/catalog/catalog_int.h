/*
 * catalog_int.h - what the two files of the catalog share (not a public
 * interface: other modules use include/jitgate/catalog.h):
 *
 *   catalog.c        services: names, owners, add, remove, list
 *   catalog_keys.c   ingest keys: create, rotate, revoke, authenticate
 *
 * Both tables are the catalog's: removing a service revokes its key, and a
 * key is made only for a live service.  These run on the caller's
 * connection, inside its audit transaction.
 */
#ifndef JITGATE_CATALOG_INT_H
#define JITGATE_CATALOG_INT_H

#include <stdint.h>

#include "jitgate/catalog.h"
#include "jitgate/store.h"

/* catalog.c: 0 when service name is live; JG_ENOTFOUND or JG_ESTORE. */
int jg_catalog_service_live(struct jg_store_conn *conn, const char *name);

/* catalog_keys.c: the id of the active key of service; JG_ENOTFOUND when there is none. */
int jg_catalog_key_active(struct jg_store_conn *conn, const char *service,
			  char id[JG_INGEST_KEY_ID_MAX + 1]);

/* catalog_keys.c: revokes the active key of service (none: nothing changes).  0 or JG_ESTORE. */
int jg_catalog_key_revoke_active(struct jg_store_conn *conn, const char *service, int64_t now);

#endif
