/*
 * audit_offhost.c - a store's log checked against the newest off-host
 * checkpoint (audit.h): what `jitgate restore` requires of a backup and
 * `jitgate audit check --against-sink` of any store, SQLite or PostgreSQL
 * (a database restored with the server's own tools, or moved by `jitgate
 * store copy`).
 *
 * The sink is a directory of checkpoint-<size, 20 digits>.note files (the
 * pusher writes them, audit_checkpoint.c), so the newest is the name that
 * sorts last.  The note must open with one of the deployment's checkpoint
 * keys under its origin: a note from elsewhere proves nothing.  Then the
 * log, verified whole beforehand by the caller, must hold at least that
 * many entries, and its first cp->size entries must have the note's root:
 * the root is read from the stored tree (each node of which the full
 * verification compared with the recomputed one) and a consistency proof
 * from it to the verified root of the whole log is checked, so the answer
 * rests on the verified chain, not on what the tables say.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit_int.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"
#include "jitgate/fileio.h"

int
jg_audit_offhost_newest(const char *dir, char *path, size_t pathlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char best[64] = "";

	if (d == NULL)
		return JG_EIO;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		if (strlen(n) == 36 && strncmp(n, "checkpoint-", 11) == 0 &&
		    strspn(n + 11, "0123456789") == 20 && strcmp(n + 31, ".note") == 0 &&
		    strcmp(n, best) > 0)
			memcpy(best, n, 37); /* 36 characters and the NUL, checked above */
	}
	closedir(d);
	if (best[0] == '\0')
		return JG_ENOTFOUND;
	int n = snprintf(path, pathlen, "%s/%s", dir, best);
	return n < 0 || (size_t)n >= pathlen ? JG_EIO : 0;
}

int
jg_audit_offhost_read(const char *path, const struct jg_audit_verifiers *verifiers,
		      const char *origin, struct jg_checkpoint *cp, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len;
	int rc = JG_EVERIFY;

	if (jg_file_read(path, JG_NOTE_MAX_BYTES, false, &buf, &len, err, errlen) != 0)
		return JG_EIO;
	for (int i = 0; i < verifiers->n && rc != 0; i++)
		rc = jg_signed_note_open_checkpoint(buf, len, &verifiers->v[i], cp);
	free(buf);
	if (rc == 0 && strcmp(cp->origin, origin) != 0)
		rc = JG_EVERIFY;
	if (rc != 0)
		return jg_errf(err, errlen, JG_EVERIFY,
			       "%s: not a checkpoint of this log signed by a checkpoint key "
			       "of key_dir",
			       path);
	return 0;
}

int
jg_audit_contains_checkpoint(struct jg_store *store, const struct jg_chain *chain,
			     const struct jg_checkpoint *cp)
{
	uint8_t root_n[32], root_m[32], proof[JG_MERKLE_MAX_PROOF_BYTES];
	json_t *c = NULL, *h;
	size_t plen = 0, i;
	int rc;

	if (chain->next_seq < cp->size)
		return JG_ECONFLICT;
	if ((rc = jg_merkle_frontier_root(&chain->tree, root_n)) != 0 ||
	    (rc = jg_audit_consistency(store, cp->size, chain->next_seq, &c)) != 0)
		return rc;
	json_t *p = json_object_get(c, "proof");
	rc = jg_unhex32(json_string_value(json_object_get(c, "root_from")), root_m) != 0 ||
		     json_array_size(p) > sizeof(proof) / 32
		 ? JG_EVERIFY
		 : 0;
	json_array_foreach(p, i, h)
	{
		if (rc == 0 && jg_unhex32(json_string_value(h), proof + 32 * i) != 0)
			rc = JG_EVERIFY;
		plen += 32;
	}
	json_decref(c);
	if (rc != 0)
		return rc;
	/* the stored tree's root of the first cp->size entries must be the published one, and
	 * provably a prefix of the verified whole */
	if (CRYPTO_memcmp(root_m, cp->root, 32) != 0 ||
	    jg_merkle_consistency_verify(cp->size, chain->next_seq, cp->root, root_n, proof,
					 plen) != 0)
		return JG_EVERIFY;
	return 0;
}
