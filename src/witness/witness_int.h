/*
 * witness_int.h - the witness's state table (witness_state.c), shared by the
 * witness's modules only.
 */
#ifndef JITGATE_WITNESS_INT_H
#define JITGATE_WITNESS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct jg_store;
struct jg_store_conn;

/* Opens (creating when missing) the SQLite state file at path.  JG_EINVAL for a non-SQLite URL. */
int jg_witness_state_open(const char *path, struct jg_store **out, char *err, size_t errlen);

/* The newest cosigned size and root of origin; *found false (and 0) when never cosigned. */
int jg_witness_state_get(struct jg_store_conn *conn, const char *origin, uint64_t *size,
			 uint8_t root[32], bool *found);

/* Stores origin's newest cosigned checkpoint (inside the caller's transaction). */
int jg_witness_state_put(struct jg_store_conn *conn, const char *origin, uint64_t size,
			 const uint8_t root[32], const char *note, const char *cosignature,
			 int64_t cosigned_at);

/* The stored note of origin followed by its cosignature line; JG_ENOTFOUND when none. */
int jg_witness_state_latest(struct jg_store_conn *conn, const char *origin, char **note,
			    size_t *len);

#endif
