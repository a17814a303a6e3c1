/*
 * witness.h - a transparency log witness (c2sp.org/tlog-witness v1.0.0):
 * `jitgate witness serve`.
 *
 * A witness keeps, for each log it is configured for (an origin and the
 * log's Ed25519 note keys), the newest checkpoint it cosigned.  A log
 * submits a new checkpoint with the size of the one the witness holds and a
 * consistency proof from it (add-checkpoint); the witness checks the log's
 * signature, that the old size is the one it holds, and the proof, then
 * stores the new checkpoint and answers with its timestamped cosignature
 * (c2sp.org/tlog-cosignature v1.0.1, key type 0x04).  The compare and the
 * store are one SQLite write transaction (BEGIN IMMEDIATE, synchronous=FULL),
 * committed before the answer: two racing submissions cannot both move the
 * size, and a cosigned size survives a crash.
 *
 * The witness's state is its own SQLite file, never jitgate's database: a
 * witness sharing the log's host or database would witness nothing.
 *
 * The statuses are the spec's: 200 with the cosignature line; 400 for a
 * malformed request or an old size above the checkpoint's; 403 when no
 * signature of a configured key verifies; 404 for an unknown origin; 409
 * (body: the size held, in decimal and a newline, Content-Type
 * text/x.tlog.size) when the old size is not the one held, or the sizes are
 * equal and the roots differ; 422 when the consistency proof does not
 * verify.
 */
#ifndef JITGATE_WITNESS_H
#define JITGATE_WITNESS_H

#include <stddef.h>
#include <stdint.h>

#include "jitgate/router.h"
#include "jitgate/signed_note.h"

#define JG_WITNESS_MAX_LOGS	  64
#define JG_WITNESS_MAX_LOG_KEYS	  8
#define JG_WITNESS_MAX_PROOF	  63 /* consistency proof lines the spec allows */
#define JG_WITNESS_SIZE_TYPE	  "text/x.tlog.size"
#define JG_WITNESS_MAX_BODY_BYTES (64 + JG_WITNESS_MAX_PROOF * 46 + JG_NOTE_MAX_BYTES)

struct jg_witness;

/* One log the witness follows: its origin and the keys that sign its checkpoints. */
struct jg_witness_log {
	char origin[JG_NOTE_MAX_NAME + 1];
	struct jg_note_verifier keys[JG_WITNESS_MAX_LOG_KEYS];
	size_t n_keys;
};

/* What add-checkpoint answers. */
struct jg_witness_answer {
	int status;	 /* 200, 400, 403, 404, 409 or 422 */
	char *body;	 /* 200: the cosignature line; 409: "<size>\n"; else NULL */
	size_t body_len; /* the caller frees body */
	char why[160];	 /* for refusals: a reason for the client and the log */
	char origin[JG_NOTE_MAX_NAME + 1]; /* once parsed, else "" */
	uint64_t old_size, size;	   /* as submitted, once parsed */
};

/*
 * Opens a witness named name (a note key name) signing with key (Ed25519,
 * private; the witness takes it), its state in the SQLite file state_path
 * (created, mode 0600, when missing), for the n logs (copied).  On failure
 * writes a reason to err and returns JG_EINVAL, JG_ESTORE or JG_ECRYPTO
 * (key still the caller's).
 */
int jg_witness_open(const char *name, EVP_PKEY *key, const char *state_path,
		    const struct jg_witness_log *logs, size_t n, struct jg_witness **out, char *err,
		    size_t errlen);
void jg_witness_free(struct jg_witness *w);

/* The witness's verifier key string ("name+id+base64(0x04 || key)"), owned by w. */
const char *jg_witness_vkey(const struct jg_witness *w);

/*
 * Handles one add-checkpoint request body (len bytes) at POSIX time now:
 * fills *ans with the answer the spec requires.  Returns 0 when *ans holds
 * the answer, or JG_ESTORE / JG_ENOMEM / JG_ECRYPTO when the witness itself
 * failed (nothing stored, nothing cosigned: the caller answers 5xx).
 */
int jg_witness_add_checkpoint(struct jg_witness *w, const char *body, size_t len, uint64_t now,
			      struct jg_witness_answer *ans);

/*
 * The newest checkpoint cosigned for origin, as a note: its text, the
 * log's signature lines that verified (other lines of the submitted note
 * are not kept) and the witness's cosignature line, in *note
 * (the caller frees).  Returns 0, JG_ENOTFOUND (unknown origin, or nothing
 * cosigned yet), JG_ESTORE or JG_ENOMEM.
 */
int jg_witness_latest(struct jg_witness *w, const char *origin, char **note, size_t *len);

/* The witness's HTTP routes (app: the struct jg_witness). */
extern const struct jg_route_table jg_witness_routes;

#endif
