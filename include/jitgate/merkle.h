/*
 * merkle.h - RFC 6962 / RFC 9162 Merkle tree hashing over SHA-256.
 *
 * The audit log is a Merkle tree: leaf hash SHA-256(0x00 || entry), node hash
 * SHA-256(0x01 || left || right), and the tree of n leaves splits at the
 * largest power of two smaller than n.  The empty tree's root is SHA-256("").
 *
 * The log keeps a frontier (the roots of the perfect subtrees along the right
 * edge, at most 64 of them) as its chain head, so an append and a root cost
 * O(log n) hashes.  Every append reports the perfect subtrees it completes;
 * the store keeps them, and proofs are generated from those stored nodes in
 * O(log n) reads through a get_node callback (below).  Verification follows
 * RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step.
 *
 * Node addressing: (level, index) is the perfect subtree of 2^level leaves
 * that starts at leaf index * 2^level.  Level 0 holds the leaf hashes.  A node
 * is complete, and may be stored, once all its leaves exist; it never changes
 * afterwards.
 *
 * Proofs are flat byte arrays: proof_len is in bytes and is a multiple of 32;
 * the hashes come in RFC 9162 order (the one nearest the leaves first).
 *
 * Nothing here allocates memory.  Thread-safe: each thread hashes with its
 * own OpenSSL digest context, created on first use and freed at thread exit.
 */
#ifndef JITGATE_MERKLE_H
#define JITGATE_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define JG_MERKLE_HASH_LEN   32
#define JG_MERKLE_MAX_LEVELS 64 /* a tree of < 2^64 leaves has at most 64 perfect subtrees */
/* Longest proof: inclusion at most 64 hashes, consistency at most 65. */
#define JG_MERKLE_MAX_PROOF	  65
#define JG_MERKLE_MAX_PROOF_BYTES (JG_MERKLE_MAX_PROOF * JG_MERKLE_HASH_LEN)

/*
 * The frontier ("compact range" [0, size)).  hash[k] is the root of the
 * perfect subtree of 2^k leaves at node (k, (size >> k) - 1); it is
 * meaningful only when bit k of size is set, and zero otherwise.
 * Initialise with jg_merkle_frontier_init() or by zeroing the struct.
 */
struct jg_merkle_frontier {
	uint64_t size;
	uint8_t hash[JG_MERKLE_MAX_LEVELS][JG_MERKLE_HASH_LEN];
};

/* One perfect subtree completed by an append, to be stored by the caller. */
struct jg_merkle_node {
	unsigned level;
	uint64_t index;
	uint8_t hash[JG_MERKLE_HASH_LEN];
};

/*
 * Serialised frontier, as stored in the chain-head row:
 *
 *   offset 0   8 bytes   size, unsigned big-endian
 *   offset 8   32 bytes  for each set bit k of size, from the highest to the
 *                        lowest: hash[k] (the subtrees left to right)
 *
 * Length is exactly 8 + 32 * popcount(size): 8 bytes for the empty tree,
 * at most JG_MERKLE_FRONTIER_MAX_BYTES.
 */
#define JG_MERKLE_FRONTIER_MAX_BYTES (8 + JG_MERKLE_MAX_LEVELS * JG_MERKLE_HASH_LEN)

/*
 * The functions that read stored nodes take a callback
 *
 *   int get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[32])
 *
 * that copies the hash of node (level, index) into out and returns 0, or a
 * negative JG_E* code (JG_ENOTFOUND for a missing node, JG_ESTORE for a
 * failing store), which is passed back unchanged (a positive return becomes
 * JG_ESTORE).  ctx is the caller's, passed through.  Only complete nodes of
 * the tree size given are asked for, so nodes stored for a larger tree serve.
 */

/*
 * out = SHA-256(0x00 || data[0..len)).  data may be NULL when len is 0.
 * Returns 0, JG_EINVAL (NULL data, len > 0) or JG_ECRYPTO.
 */
int jg_merkle_leaf_hash(const void *data, size_t len, uint8_t out[JG_MERKLE_HASH_LEN]);

/* out = SHA-256(0x01 || left || right).  out may alias left or right.  0 or JG_ECRYPTO. */
int jg_merkle_node_hash(const uint8_t left[JG_MERKLE_HASH_LEN],
			const uint8_t right[JG_MERKLE_HASH_LEN], uint8_t out[JG_MERKLE_HASH_LEN]);

/* out = SHA-256(""), the root of the empty tree.  0 or JG_ECRYPTO. */
int jg_merkle_empty_root(uint8_t out[JG_MERKLE_HASH_LEN]);

/* Makes f the frontier of the empty tree. */
void jg_merkle_frontier_init(struct jg_merkle_frontier *f);

/*
 * Appends the leaf with hash leaf_hash as leaf f->size.  When completed is
 * not NULL it must have room for JG_MERKLE_MAX_LEVELS nodes: it receives the
 * perfect subtrees this append completes, leaf first ((0, old size), then
 * one per level up), and *n_completed their count (1 + the number of
 * trailing one bits of the old size).  On failure f is unchanged.
 * Returns 0, JG_ETOOBIG (f->size is already UINT64_MAX) or JG_ECRYPTO.
 */
int jg_merkle_frontier_append(struct jg_merkle_frontier *f,
			      const uint8_t leaf_hash[JG_MERKLE_HASH_LEN],
			      struct jg_merkle_node *completed, size_t *n_completed);

/* The root of the tree f describes (SHA-256("") when empty).  0 or JG_ECRYPTO. */
int jg_merkle_frontier_root(const struct jg_merkle_frontier *f, uint8_t root[JG_MERKLE_HASH_LEN]);

/*
 * Writes the layout above into buf (cap bytes; JG_MERKLE_FRONTIER_MAX_BYTES
 * always suffices) and its length into *len.  0 or JG_ETOOBIG.
 */
int jg_merkle_frontier_encode(const struct jg_merkle_frontier *f, uint8_t *buf, size_t cap,
			      size_t *len);

/*
 * Parses len bytes of buf (the layout above) into *f.  Refuses any length
 * other than 8 + 32 * popcount(size) with JG_EPARSE, leaving *f unchanged.
 * Nothing checks that the hashes belong to a real tree: that is for the
 * caller, e.g. by comparing the root with a signed checkpoint.
 */
int jg_merkle_frontier_decode(const uint8_t *buf, size_t len, struct jg_merkle_frontier *f);

/*
 * Rebuilds the frontier of the tree of tree_size leaves from stored nodes
 * (popcount(tree_size) reads).  Returns 0 or the callback's error.
 */
int jg_merkle_frontier_from_nodes(uint64_t tree_size,
				  int (*get_node)(void *ctx, unsigned level, uint64_t index,
						  uint8_t out[JG_MERKLE_HASH_LEN]),
				  void *ctx, struct jg_merkle_frontier *f);

/* The root over n leaf hashes stored back to back (32 * n bytes), O(n), no allocation. */
int jg_merkle_root_from_leaves(const uint8_t *leaf_hashes, size_t n,
			       uint8_t root[JG_MERKLE_HASH_LEN]);

/*
 * The root of the tree of tree_size leaves from stored nodes
 * (popcount(tree_size) reads).  Returns 0, the callback's error or JG_ECRYPTO.
 */
int jg_merkle_root_from_nodes(uint64_t tree_size,
			      int (*get_node)(void *ctx, unsigned level, uint64_t index,
					      uint8_t out[JG_MERKLE_HASH_LEN]),
			      void *ctx, uint8_t root[JG_MERKLE_HASH_LEN]);

/*
 * The inclusion proof PATH(leaf_index, D[tree_size]) of RFC 9162 2.1.3.1,
 * from stored nodes: one read per level, plus at most log2(tree_size) for
 * the one sibling that is not a perfect subtree.  The proof goes into proof
 * (cap bytes; JG_MERKLE_MAX_PROOF_BYTES always suffices), its length in bytes
 * into *proof_len.  Returns 0, JG_EINVAL (leaf_index >= tree_size),
 * JG_ETOOBIG (cap too small), the callback's error or JG_ECRYPTO.
 */
int jg_merkle_inclusion_proof(uint64_t leaf_index, uint64_t tree_size,
			      int (*get_node)(void *ctx, unsigned level, uint64_t index,
					      uint8_t out[JG_MERKLE_HASH_LEN]),
			      void *ctx, uint8_t *proof, size_t cap, size_t *proof_len);

/*
 * The consistency proof PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of
 * RFC 9162 2.1.4.1, from stored nodes, as above.  For m == n and for m == 0
 * the proof is empty (the RFC's SUBPROOF(m, D[m], true) = {}; the empty tree
 * is a prefix of every tree).  Returns 0, JG_EINVAL (m > n), JG_ETOOBIG,
 * the callback's error or JG_ECRYPTO.
 */
int jg_merkle_consistency_proof(uint64_t m, uint64_t n,
				int (*get_node)(void *ctx, unsigned level, uint64_t index,
						uint8_t out[JG_MERKLE_HASH_LEN]),
				void *ctx, uint8_t *proof, size_t cap, size_t *proof_len);

/*
 * RFC 9162 2.1.3.2: checks that leaf_hash is leaf leaf_index of the tree of
 * tree_size leaves whose root is root, given proof (proof_len bytes).
 * Returns 0 when it is, JG_EVERIFY when it is not or the proof is malformed
 * (including leaf_index >= tree_size), JG_EINVAL for NULL pointers,
 * JG_ECRYPTO if hashing fails.
 */
int jg_merkle_inclusion_verify(uint64_t leaf_index, uint64_t tree_size,
			       const uint8_t leaf_hash[JG_MERKLE_HASH_LEN], const uint8_t *proof,
			       size_t proof_len, const uint8_t root[JG_MERKLE_HASH_LEN])
    __attribute__((warn_unused_result));

/*
 * RFC 9162 2.1.4.2: checks that the tree of m leaves with root root_m is a
 * prefix of the tree of n leaves with root root_n, given proof (proof_len
 * bytes).  For 0 < m < n the RFC algorithm runs as written (an empty proof
 * fails).  Outside the RFC's 0 < m < n: m == n needs an empty proof and
 * root_m == root_n; m == 0 needs an empty proof and root_m == SHA-256("")
 * (the root of the empty tree, a prefix of every tree); m > n fails.
 * Returns 0, JG_EVERIFY, JG_EINVAL (NULL pointers) or JG_ECRYPTO.
 */
int jg_merkle_consistency_verify(uint64_t m, uint64_t n, const uint8_t root_m[JG_MERKLE_HASH_LEN],
				 const uint8_t root_n[JG_MERKLE_HASH_LEN], const uint8_t *proof,
				 size_t proof_len) __attribute__((warn_unused_result));

#endif
