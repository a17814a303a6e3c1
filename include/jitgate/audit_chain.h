/*
 * audit_chain.h - checking a run of audit entries: form, order, links, tree.
 *
 * One verifier serves the server's start-up check, its background
 * re-verification, the guard's incremental check and the offline
 * `jitgate audit verify`.  Entries are fed in order, in batches; each entry
 * must be canonical JSON (canon.h) with the fields of docs/audit-format.md,
 * its seq must be the next one, its prev the leaf hash of the entry before,
 * and its leaf hash extends the Merkle frontier.  The expensive part (parse,
 * re-encode, hash) runs on several threads; the links are then checked in
 * order.
 */
#ifndef JITGATE_AUDIT_CHAIN_H
#define JITGATE_AUDIT_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/merkle.h"

#define JG_AUDIT_VERSION 1
/* bytes in one entry: an entry bundle (tlog-tiles) prefixes each with a 16-bit length */
#define JG_AUDIT_MAX_ENTRY 65535

struct jg_chain {
	uint64_t next_seq;
	uint8_t prev[JG_MERKLE_HASH_LEN]; /* leaf hash of entry next_seq - 1 (zeros before 0) */
	struct jg_merkle_frontier tree;	  /* the tree of entries [0, next_seq) */
	int threads;			  /* worker threads for a batch (1 or more) */
};

struct jg_chain_fault {
	uint64_t seq; /* the entry at fault (its position, which is its expected seq) */
	char why[320];
};

/* Called for each perfect subtree (level >= 1) that an entry completes. */
typedef int (*jg_chain_node_fn)(void *ctx, const struct jg_merkle_node *node);

/* Starts an empty chain: next seq 0, prev all zeros, empty tree. */
void jg_chain_init(struct jg_chain *c, int threads);

/*
 * Feeds n entries (bufs[i], lens[i] bytes each) that continue the chain.
 * On_node (may be NULL) sees each completed node of level >= 1, so a caller
 * can compare stored nodes; a non-zero return stops with that error.  The
 * leaf hashes are written to leaf_hashes (32 * n bytes) when it is not NULL.
 * Returns 0, or JG_EVERIFY with *fault naming the first bad entry, or
 * on_node's error (a store's), or JG_ENOMEM / JG_ECRYPTO.  Whatever the
 * error, the chain is left holding exactly the entries before the one that
 * failed (size, prev and tree agree), so it can be fed again from there.
 */
int jg_chain_feed(struct jg_chain *c, const char *const *bufs, const size_t *lens, size_t n,
		  jg_chain_node_fn on_node, void *ctx, uint8_t *leaf_hashes,
		  struct jg_chain_fault *fault) __attribute__((warn_unused_result));

/*
 * Checks one entry's form alone (canonical, fields, types, size) and
 * returns its seq and prev.  *doc (may be NULL) receives the parsed entry.
 * Returns 0 or JG_EPARSE with the reason in why.
 */
int jg_chain_entry_parse(const char *buf, size_t len, uint64_t *seq,
			 uint8_t prev[JG_MERKLE_HASH_LEN], json_t **doc, char *why, size_t whylen);

/* Fills *fault (seq: UINT64_MAX when no entry is to blame) and returns JG_EVERIFY. */
int jg_chain_fault_set(struct jg_chain_fault *fault, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
