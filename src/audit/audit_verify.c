/*
 * audit_verify.c - offline verification of an audit export.
 *
 * Needs nothing but the export and the auditor's trusted checkpoint keys.
 * The export is a header line, the entries [from, to] one per line, and a
 * checkpoint line.  The verifier rebuilds the tree of tree_size leaves from
 * the left frontier (the perfect subtrees of [0, from)), the entries' leaf
 * hashes and the right tiles (the perfect subtrees of [to+1, tree_size)),
 * and requires its root to be the one the checkpoint signs.  Every entry is
 * also checked for canonical form, seq order and its prev link.  Nothing in
 * the export is trusted until that root matches: the header's hashes only
 * make the root computable.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/audit.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"

#define FEED_CHUNK 65536
#define MAX_HEADER (64 * 1024)

/* Adds the perfect subtree (level, hash) at the right edge of f, which must be aligned. */
static int
append_subtree(struct jg_merkle_frontier *f, unsigned level, const uint8_t hash[32])
{
	uint8_t carry[32];
	if (level >= 63 || (f->size & ((1ULL << level) - 1)) != 0)
		return JG_EVERIFY;
	memcpy(carry, hash, 32);
	unsigned k = level;
	while ((f->size >> k) & 1) {
		if (jg_merkle_node_hash(f->hash[k], carry, carry) != 0)
			return JG_ECRYPTO;
		memset(f->hash[k], 0, 32);
		k++;
	}
	memcpy(f->hash[k], carry, 32);
	f->size += 1ULL << level;
	return 0;
}

static int
hash_list(json_t *arr, uint8_t *out, size_t want)
{
	if (!json_is_array(arr) || json_array_size(arr) != want)
		return JG_EPARSE;
	for (size_t i = 0; i < want; i++) {
		json_t *h = json_array_get(arr, i);
		if (!json_is_string(h) || jg_unhex32(json_string_value(h), out + 32 * i) != 0)
			return JG_EPARSE;
	}
	return 0;
}

static int
open_with_any(const char *note, size_t len, const struct jg_audit_verifiers *vs,
	      struct jg_checkpoint *cp)
{
	for (int i = 0; i < vs->n; i++)
		if (jg_signed_note_open_checkpoint(note, len, &vs->v[i], cp) == 0)
			return 0;
	return JG_EVERIFY;
}

static int
popcount64(uint64_t v)
{
	return __builtin_popcountll(v);
}

int
jg_audit_verify_export(const char *buf, size_t len, const struct jg_audit_verifiers *verifiers,
		       const char *old, size_t old_len, int threads, char *summary,
		       size_t summary_len, struct jg_chain_fault *fault)
{
	return jg_audit_verify_export_each(buf, len, verifiers, old, old_len, threads, summary,
					   summary_len, fault, NULL, NULL);
}

int
jg_audit_verify_export_each(const char *buf, size_t len, const struct jg_audit_verifiers *verifiers,
			    const char *old, size_t old_len, int threads, char *summary,
			    size_t summary_len, struct jg_chain_fault *fault,
			    jg_audit_entry_fn each, void *ctx)
{
	const char *p = buf, *end = buf + len;
	const char *header_line, *cp_line = NULL;
	size_t header_len, cp_len = 0;
	json_t *header = NULL, *cpdoc = NULL;
	const char **lines = NULL;
	size_t *lens = NULL, nlines = 0, cap = 0;
	struct jg_checkpoint cp, oldcp;
	struct jg_chain chain;
	uint8_t lefts[64 * 32], root[32], old_root[32];
	int have_old_root = 0;
	int rc = JG_EVERIFY;
	json_error_t jerr;

	memset(fault, 0, sizeof(*fault));
	fault->seq = UINT64_MAX;
	if (len == 0 || buf[len - 1] != '\n')
		return jg_chain_fault_set(fault, UINT64_MAX,
					  "malformed export: it must end with a newline");

	/* Split into lines: header, entries..., checkpoint. */
	header_line = p;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	header_len = (size_t)(nl - p);
	p = nl + 1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nlines == cap) {
			cap = cap ? cap * 2 : 4096;
			const char **gl = realloc(lines, cap * sizeof(*lines));
			size_t *gn = realloc(lens, cap * sizeof(*lens));
			if (gl)
				lines = gl;
			if (gn)
				lens = gn;
			if (gl == NULL || gn == NULL) {
				rc = JG_ENOMEM;
				goto out;
			}
		}
		lines[nlines] = p;
		lens[nlines] = (size_t)(nl - p);
		nlines++;
		p = nl + 1;
	}
	if (nlines == 0) {
		rc = jg_chain_fault_set(fault, UINT64_MAX, "malformed export: no checkpoint line");
		goto out;
	}
	cp_line = lines[nlines - 1];
	cp_len = lens[nlines - 1];
	nlines--;

	/* Header. */
	if (header_len > MAX_HEADER ||
	    (header = json_loadb(header_line, header_len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(header) ||
	    strcmp(json_string_value(json_object_get(header, "format")) ?: "",
		   "jitgate-audit-export") != 0 ||
	    json_integer_value(json_object_get(header, "v")) != 1) {
		rc = jg_chain_fault_set(
		    fault, UINT64_MAX,
		    "malformed export: the first line is not a jitgate-audit-export v1 "
		    "header");
		goto out;
	}
	json_t *jfrom = json_object_get(header, "from"), *jto = json_object_get(header, "to"),
	       *jsize = json_object_get(header, "tree_size");
	const char *origin = json_string_value(json_object_get(header, "origin"));
	if (!json_is_integer(jfrom) || !json_is_integer(jto) || !json_is_integer(jsize) ||
	    origin == NULL || json_integer_value(jfrom) < 0 ||
	    json_integer_value(jto) < json_integer_value(jfrom) ||
	    json_integer_value(jsize) <= json_integer_value(jto)) {
		rc = jg_chain_fault_set(
		    fault, UINT64_MAX,
		    "malformed export: header needs from <= to < tree_size and an origin");
		goto out;
	}
	uint64_t from = (uint64_t)json_integer_value(jfrom);
	uint64_t to = (uint64_t)json_integer_value(jto);
	uint64_t tree_size = (uint64_t)json_integer_value(jsize);

	/* Checkpoint: signed by a trusted key, for this origin and size. */
	if ((cpdoc = json_loadb(cp_line, cp_len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_string(json_object_get(cpdoc, "checkpoint"))) {
		rc = jg_chain_fault_set(fault, UINT64_MAX,
					"malformed export: the last line is not a checkpoint line");
		goto out;
	}
	const char *note = json_string_value(json_object_get(cpdoc, "checkpoint"));
	if (open_with_any(note, strlen(note), verifiers, &cp) != 0) {
		rc = jg_chain_fault_set(
		    fault, UINT64_MAX,
		    "bad signature: the checkpoint is not validly signed by the given "
		    "key (or its text was edited)");
		goto out;
	}
	if (strcmp(cp.origin, origin) != 0 || cp.size != tree_size) {
		rc = jg_chain_fault_set(
		    fault, UINT64_MAX,
		    "size mismatch: the signed checkpoint is for %s at size %llu, the "
		    "export claims %s at size %llu",
		    cp.origin, (unsigned long long)cp.size, origin, (unsigned long long)tree_size);
		goto out;
	}

	/* An older checkpoint the auditor kept, to check this log extends it. */
	if (old != NULL) {
		if (open_with_any(old, old_len, verifiers, &oldcp) != 0) {
			rc = jg_chain_fault_set(
			    fault, UINT64_MAX,
			    "the older checkpoint is not validly signed by the given key");
			goto out;
		}
		if (strcmp(oldcp.origin, cp.origin) != 0 || oldcp.size > tree_size) {
			rc = jg_chain_fault_set(
			    fault, UINT64_MAX,
			    "not consistent with the older checkpoint: it is for %s at "
			    "size %llu, this export for %s at size %llu",
			    oldcp.origin, (unsigned long long)oldcp.size, cp.origin,
			    (unsigned long long)tree_size);
			goto out;
		}
		if (oldcp.size < from || (oldcp.size > to + 1 && oldcp.size != tree_size)) {
			rc = jg_chain_fault_set(
			    fault, UINT64_MAX,
			    "cannot check consistency with the older checkpoint (size "
			    "%llu): export a range that contains that size",
			    (unsigned long long)oldcp.size);
			goto out;
		}
	}

	/* Left frontier: the perfect subtrees of [0, from), largest first. */
	jg_chain_init(&chain, threads);
	int nleft = popcount64(from);
	if (hash_list(json_object_get(header, "left"), lefts, (size_t)nleft) != 0) {
		rc = jg_chain_fault_set(
		    fault, UINT64_MAX, "malformed export: 'left' must hold %d hashes for from=%llu",
		    nleft, (unsigned long long)from);
		goto out;
	}
	chain.tree.size = from;
	for (int k = 63, i = 0; k >= 0; k--)
		if ((from >> k) & 1)
			memcpy(chain.tree.hash[k], lefts + 32 * i++, 32);
	chain.next_seq = from;
	if (from > 0 && nlines > 0) {
		/* entry from's prev is authenticated by the root, like the rest */
		uint64_t seq;
		char why[160];
		if (jg_chain_entry_parse(lines[0], lens[0], &seq, chain.prev, NULL, why,
					 sizeof(why)) != 0) {
			rc = jg_chain_fault_set(fault, from, "%s", why);
			goto out;
		}
	}
	if (old != NULL && oldcp.size == from) {
		if (jg_merkle_frontier_root(&chain.tree, old_root) != 0) {
			rc = JG_ECRYPTO;
			goto out;
		}
		have_old_root = 1;
	}

	/* Entries, in chunks that stop at the older checkpoint's size. */
	for (size_t i = 0; i < nlines;) {
		size_t n = nlines - i < FEED_CHUNK ? nlines - i : FEED_CHUNK;
		if (old != NULL && !have_old_root && oldcp.size > chain.next_seq &&
		    oldcp.size - chain.next_seq < n)
			n = (size_t)(oldcp.size - chain.next_seq);
		rc = jg_chain_feed(&chain, lines + i, lens + i, n, NULL, NULL, NULL, fault);
		for (size_t e = i; rc == 0 && each != NULL && e < i + n; e++)
			rc = each(ctx, chain.next_seq - n + (e - i), lines[e], lens[e]);
		if (rc != 0)
			goto out;
		i += n;
		if (old != NULL && !have_old_root && chain.next_seq == oldcp.size) {
			if (jg_merkle_frontier_root(&chain.tree, old_root) != 0) {
				rc = JG_ECRYPTO;
				goto out;
			}
			have_old_root = 1;
		}
	}
	if (chain.next_seq != to + 1) {
		rc = jg_chain_fault_set(
		    fault, chain.next_seq,
		    "size mismatch: the header promises entries %llu..%llu, the file ends "
		    "after %llu",
		    (unsigned long long)from, (unsigned long long)to,
		    (unsigned long long)(chain.next_seq ? chain.next_seq - 1 : 0));
		goto out;
	}

	/* Right tiles: the perfect subtrees of [to + 1, tree_size), left to right. */
	json_t *rights = json_object_get(header, "right");
	size_t nright = json_is_array(rights) ? json_array_size(rights) : 0;
	uint64_t pos = to + 1;
	size_t used = 0;
	while (pos < tree_size) {
		unsigned level = 0;
		while (level < 62 && (pos & ((2ULL << level) - 1)) == 0 &&
		       pos + (2ULL << level) <= tree_size)
			level++;
		uint8_t h[32];
		json_t *jh = used < nright ? json_array_get(rights, used) : NULL;
		if (!json_is_string(jh) || jg_unhex32(json_string_value(jh), h) != 0 ||
		    append_subtree(&chain.tree, level, h) != 0) {
			rc = jg_chain_fault_set(
			    fault, UINT64_MAX,
			    "malformed export: 'right' does not tile [%llu, %llu)",
			    (unsigned long long)to + 1, (unsigned long long)tree_size);
			goto out;
		}
		used++;
		pos += 1ULL << level;
	}
	if (used != nright) {
		rc = jg_chain_fault_set(fault, UINT64_MAX,
					"malformed export: 'right' has extra hashes");
		goto out;
	}
	if (jg_merkle_frontier_root(&chain.tree, root) != 0) {
		rc = JG_ECRYPTO;
		goto out;
	}
	if (CRYPTO_memcmp(root, cp.root, 32) != 0) {
		rc = jg_chain_fault_set(
		    fault, UINT64_MAX,
		    "root mismatch: the entries %llu..%llu with the given proof hashes do "
		    "not produce the signed root of size %llu: an entry was altered, "
		    "removed or reordered",
		    (unsigned long long)from, (unsigned long long)to,
		    (unsigned long long)tree_size);
		goto out;
	}
	if (old != NULL) {
		if (oldcp.size == tree_size) {
			memcpy(old_root, root, 32);
			have_old_root = 1;
		}
		if (!have_old_root || CRYPTO_memcmp(old_root, oldcp.root, 32) != 0) {
			rc = jg_chain_fault_set(
			    fault, UINT64_MAX,
			    "not consistent with the older checkpoint: the tree of size "
			    "%llu in this export has another root: the log was rewritten",
			    (unsigned long long)oldcp.size);
			goto out;
		}
	}
	snprintf(summary, summary_len,
		 "%s: entries %llu..%llu verified against the signed checkpoint of size %llu%s",
		 cp.origin, (unsigned long long)from, (unsigned long long)to,
		 (unsigned long long)tree_size,
		 old != NULL ? "; consistent with the older checkpoint" : "");
	rc = 0;
out:
	json_decref(header);
	json_decref(cpdoc);
	free(lines);
	free(lens);
	return rc;
}

int
jg_audit_export_cosigned(const char *buf, size_t len, const struct jg_note_verifier *witnesses,
			 size_t n, size_t *count)
{
	struct jg_signed_note *note = NULL;
	const char *line = buf;
	json_t *doc = NULL;
	json_error_t jerr;
	int rc = JG_EVERIFY;

	*count = 0;
	if (len == 0 || buf[len - 1] != '\n')
		return JG_EVERIFY;
	/* the last line: {"checkpoint": note} */
	for (size_t i = len - 1; i > 0; i--)
		if (buf[i - 1] == '\n') {
			line = buf + i;
			break;
		}
	if ((doc = json_loadb(line, (size_t)(buf + len - line), JSON_REJECT_DUPLICATES, &jerr)) ==
		NULL ||
	    !json_is_string(json_object_get(doc, "checkpoint")))
		goto out;
	const char *text = json_string_value(json_object_get(doc, "checkpoint"));
	if ((rc = jg_signed_note_parse(text, strlen(text), &note)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint64_t t;
		bool dup = false;
		for (size_t k = 0; k < i; k++)
			dup |= (witnesses[k].key_id == witnesses[i].key_id &&
				strcmp(witnesses[k].name, witnesses[i].name) == 0) ||
			       memcmp(witnesses[k].pub, witnesses[i].pub,
				      sizeof(witnesses[i].pub)) == 0;
		if (witnesses[i].alg != JG_NOTE_ALG_COSIGNATURE_V1) {
			rc = JG_EINVAL;
			goto out;
		}
		if (!dup && jg_signed_note_verify_time(note, &witnesses[i], &t) == 0)
			(*count)++;
	}
	rc = 0;
out:
	jg_signed_note_free(note);
	json_decref(doc);
	return rc;
}
