/*
 * merkle.c - RFC 6962 / RFC 9162 Merkle trees: frontier, proofs from stored
 * nodes, and proof verification (see include/jitgate/merkle.h).
 *
 * Hashing goes through OpenSSL's EVP interface with SHA-256 fetched once and
 * one digest context per thread (a pthread key frees it at thread exit), so
 * the hot paths (a leaf and a node per entry when the offline verifier
 * rehashes a million entries) allocate nothing.
 *
 * The frontier is the binary representation of the tree size made concrete:
 * bit k of size is set exactly when a perfect subtree of 2^k leaves sits on
 * the right edge, and hash[k] is its root.  Appending a leaf is binary
 * increment: carry through the set low bits, hashing left sibling with the
 * new subtree at each, and every carry completes one stored node.
 *
 * Proofs follow the RFC's recursion (split [lo, hi) at the largest power of
 * two below its size) iteratively, top-down, then reverse the list.  Every
 * range met on the way starts at a multiple of the power of two at or above
 * its size, so its hash is the fold of the perfect subtrees named by the set
 * bits of its size: one stored read for a perfect range, at most 64 for the
 * single non-perfect sibling on the right edge.
 */
#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "jitgate/error.h"
#include "jitgate/merkle.h"
#include "jitgate/sha256.h"

#define HLEN JG_MERKLE_HASH_LEN

/* The store callback, spelled once. */
#define GET_NODE_FN int (*get_node)(void *, unsigned, uint64_t, uint8_t *)

int
jg_merkle_leaf_hash(const void *data, size_t len, uint8_t out[HLEN])
{
	static const uint8_t prefix = 0x00;

	if (data == NULL && len > 0)
		return JG_EINVAL;
	return jg_sha256_2(&prefix, 1, data, len, out);
}

int
jg_merkle_node_hash(const uint8_t left[HLEN], const uint8_t right[HLEN], uint8_t out[HLEN])
{
	uint8_t buf[1 + 2 * HLEN];

	/* One contiguous update; also makes out aliasing left or right safe. */
	buf[0] = 0x01;
	memcpy(buf + 1, left, HLEN);
	memcpy(buf + 1 + HLEN, right, HLEN);
	return jg_sha256_2(buf, sizeof(buf), NULL, 0, out);
}

int
jg_merkle_empty_root(uint8_t out[HLEN])
{
	return jg_sha256_2(NULL, 0, NULL, 0, out);
}

/* The largest power of two strictly below s (s >= 2). */
static uint64_t
split_point(uint64_t s)
{
	assert(s >= 2);
	return (uint64_t)1 << (63 - __builtin_clzll(s - 1));
}

/* Calls the store, mapping a stray positive return to JG_ESTORE. */
static int
read_node(GET_NODE_FN, void *ctx, unsigned level, uint64_t index, uint8_t out[HLEN])
{
	int rc = get_node(ctx, level, index, out);

	return rc > 0 ? JG_ESTORE : rc;
}

/*
 * MTH(D[lo:hi]) from stored nodes, for a range from the RFC recursion (lo is
 * a multiple of the power of two at or above hi - lo, so every perfect
 * subtree below is aligned).  Folds the subtrees right to left:
 * popcount(hi - lo) reads and popcount - 1 hashes.
 */
static int
range_root(uint64_t lo, uint64_t hi, GET_NODE_FN, void *ctx, uint8_t out[HLEN])
{
	uint64_t size = hi - lo, end = hi;
	uint8_t sub[HLEN];
	bool first = true;
	int rc;

	assert(hi > lo);
	for (unsigned level = 0; level < JG_MERKLE_MAX_LEVELS; level++) {
		if ((size >> level & 1) == 0)
			continue;
		end -= (uint64_t)1 << level;
		assert((end & (((uint64_t)1 << level) - 1)) == 0);
		if ((rc = read_node(get_node, ctx, level, end >> level, first ? out : sub)) != 0)
			return rc;
		if (!first && (rc = jg_merkle_node_hash(sub, out, out)) != 0)
			return rc;
		first = false;
	}
	return 0;
}

void
jg_merkle_frontier_init(struct jg_merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

int
jg_merkle_frontier_append(struct jg_merkle_frontier *f, const uint8_t leaf_hash[HLEN],
			  struct jg_merkle_node *completed, size_t *n_completed)
{
	uint64_t n = f->size;
	uint8_t h[HLEN];
	unsigned level = 0;
	size_t nc = 0;
	int rc;

	if (n == UINT64_MAX)
		return JG_ETOOBIG;
	memcpy(h, leaf_hash, HLEN);
	for (;;) {
		if (completed != NULL) {
			completed[nc].level = level;
			completed[nc].index = n >> level;
			memcpy(completed[nc].hash, h, HLEN);
		}
		nc++;
		/* A set bit is a left sibling waiting for this subtree: carry. */
		if ((n >> level & 1) == 0)
			break;
		if ((rc = jg_merkle_node_hash(f->hash[level], h, h)) != 0)
			return rc;
		level++;
	}
	/* Commit: the carried levels become empty, the carry lands at level. */
	memset(f->hash, 0, (size_t)level * HLEN);
	memcpy(f->hash[level], h, HLEN);
	f->size = n + 1;
	if (n_completed != NULL)
		*n_completed = nc;
	return 0;
}

int
jg_merkle_frontier_root(const struct jg_merkle_frontier *f, uint8_t root[HLEN])
{
	bool first = true;
	int rc;

	if (f->size == 0)
		return jg_merkle_empty_root(root);
	/* Fold right (lowest level) to left (highest). */
	for (unsigned level = 0; level < JG_MERKLE_MAX_LEVELS; level++) {
		if ((f->size >> level & 1) == 0)
			continue;
		if (first)
			memcpy(root, f->hash[level], HLEN);
		else if ((rc = jg_merkle_node_hash(f->hash[level], root, root)) != 0)
			return rc;
		first = false;
	}
	return 0;
}

int
jg_merkle_frontier_encode(const struct jg_merkle_frontier *f, uint8_t *buf, size_t cap, size_t *len)
{
	size_t need = 8 + (size_t)__builtin_popcountll(f->size) * HLEN, off = 8;

	if (cap < need)
		return JG_ETOOBIG;
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(f->size >> (56 - 8 * i));
	for (int level = JG_MERKLE_MAX_LEVELS - 1; level >= 0; level--) {
		if ((f->size >> level & 1) == 0)
			continue;
		memcpy(buf + off, f->hash[level], HLEN);
		off += HLEN;
	}
	*len = need;
	return 0;
}

int
jg_merkle_frontier_decode(const uint8_t *buf, size_t len, struct jg_merkle_frontier *f)
{
	uint64_t size = 0;
	size_t off = 8;

	if (buf == NULL || len < 8)
		return JG_EPARSE;
	for (int i = 0; i < 8; i++)
		size = size << 8 | buf[i];
	if (len != 8 + (size_t)__builtin_popcountll(size) * HLEN)
		return JG_EPARSE;
	memset(f, 0, sizeof(*f));
	f->size = size;
	for (int level = JG_MERKLE_MAX_LEVELS - 1; level >= 0; level--) {
		if ((size >> level & 1) == 0)
			continue;
		memcpy(f->hash[level], buf + off, HLEN);
		off += HLEN;
	}
	return 0;
}

int
jg_merkle_frontier_from_nodes(uint64_t tree_size, GET_NODE_FN, void *ctx,
			      struct jg_merkle_frontier *f)
{
	struct jg_merkle_frontier tmp;
	int rc;

	jg_merkle_frontier_init(&tmp);
	tmp.size = tree_size;
	for (unsigned level = 0; level < JG_MERKLE_MAX_LEVELS; level++) {
		if ((tree_size >> level & 1) == 0)
			continue;
		if ((rc = read_node(get_node, ctx, level, (tree_size >> level) - 1,
				    tmp.hash[level])) != 0)
			return rc;
	}
	memcpy(f, &tmp, sizeof(tmp));
	return 0;
}

int
jg_merkle_root_from_leaves(const uint8_t *leaf_hashes, size_t n, uint8_t root[HLEN])
{
	struct jg_merkle_frontier f;
	int rc;

	if (leaf_hashes == NULL && n > 0)
		return JG_EINVAL;
	jg_merkle_frontier_init(&f);
	for (size_t i = 0; i < n; i++)
		if ((rc = jg_merkle_frontier_append(&f, leaf_hashes + i * HLEN, NULL, NULL)) != 0)
			return rc;
	return jg_merkle_frontier_root(&f, root);
}

int
jg_merkle_root_from_nodes(uint64_t tree_size, GET_NODE_FN, void *ctx, uint8_t root[HLEN])
{
	if (tree_size == 0)
		return jg_merkle_empty_root(root);
	return range_root(0, tree_size, get_node, ctx, root);
}

/* Reverses count hashes in place: the proofs are built root-first. */
static void
reverse_hashes(uint8_t *p, size_t count)
{
	uint8_t t[HLEN];

	for (size_t i = 0, j = count; i + 1 < j; i++, j--) {
		memcpy(t, p + i * HLEN, HLEN);
		memcpy(p + i * HLEN, p + (j - 1) * HLEN, HLEN);
		memcpy(p + (j - 1) * HLEN, t, HLEN);
	}
}

int
jg_merkle_inclusion_proof(uint64_t leaf_index, uint64_t tree_size, GET_NODE_FN, void *ctx,
			  uint8_t *proof, size_t cap, size_t *proof_len)
{
	uint64_t lo = 0, hi = tree_size;
	size_t count = 0;
	int rc;

	if (leaf_index >= tree_size)
		return JG_EINVAL;
	/* PATH(m, D[lo:hi]): the sibling of the half holding the leaf, then recurse into it. */
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo), slo, shi;

		if (leaf_index < lo + k) {
			slo = lo + k, shi = hi;
			hi = lo + k;
		} else {
			slo = lo, shi = lo + k;
			lo += k;
		}
		if ((count + 1) * HLEN > cap)
			return JG_ETOOBIG;
		if ((rc = range_root(slo, shi, get_node, ctx, proof + count * HLEN)) != 0)
			return rc;
		count++;
	}
	reverse_hashes(proof, count);
	*proof_len = count * HLEN;
	return 0;
}

int
jg_merkle_consistency_proof(uint64_t m, uint64_t n, GET_NODE_FN, void *ctx, uint8_t *proof,
			    size_t cap, size_t *proof_len)
{
	uint64_t lo = 0, hi = n, mm = m;
	bool known = true; /* the b of SUBPROOF: is MTH(D[0:m]) the verifier's own root? */
	size_t count = 0;
	int rc;

	if (m > n)
		return JG_EINVAL;
	if (m == 0 || m == n) {
		*proof_len = 0;
		return 0;
	}
	/* SUBPROOF(mm, D[lo:hi], known), until mm covers the whole range. */
	for (;;) {
		uint64_t slo, shi;
		bool last = false;

		if (mm == hi - lo) {
			if (known)
				break;	    /* SUBPROOF(m, D[m], true) = {} */
			slo = lo, shi = hi; /* SUBPROOF(m, D[m], false) = {MTH(D[m])} */
			last = true;
		} else {
			uint64_t k = split_point(hi - lo);

			if (mm <= k) { /* SUBPROOF(mm, D[0:k], known) : MTH(D[k:n]) */
				slo = lo + k, shi = hi;
				hi = lo + k;
			} else { /* SUBPROOF(mm - k, D[k:n], false) : MTH(D[0:k]) */
				slo = lo, shi = lo + k;
				lo += k;
				mm -= k;
				known = false;
			}
		}
		if ((count + 1) * HLEN > cap)
			return JG_ETOOBIG;
		if ((rc = range_root(slo, shi, get_node, ctx, proof + count * HLEN)) != 0)
			return rc;
		count++;
		if (last)
			break;
	}
	reverse_hashes(proof, count);
	*proof_len = count * HLEN;
	return 0;
}

static bool
hash_eq(const uint8_t a[HLEN], const uint8_t b[HLEN])
{
	return CRYPTO_memcmp(a, b, HLEN) == 0;
}

int
jg_merkle_inclusion_verify(uint64_t leaf_index, uint64_t tree_size, const uint8_t leaf_hash[HLEN],
			   const uint8_t *proof, size_t proof_len, const uint8_t root[HLEN])
{
	uint64_t fn, sn;
	uint8_t r[HLEN];
	int rc;

	if (leaf_hash == NULL || root == NULL || (proof == NULL && proof_len > 0))
		return JG_EINVAL;
	/* 1. leaf_index must be inside the tree. */
	if (leaf_index >= tree_size || proof_len % HLEN != 0)
		return JG_EVERIFY;
	/* 2., 3. */
	fn = leaf_index;
	sn = tree_size - 1;
	memcpy(r, leaf_hash, HLEN);
	/* 4. */
	for (size_t off = 0; off < proof_len; off += HLEN) {
		const uint8_t *p = proof + off;

		if (sn == 0) /* a. */
			return JG_EVERIFY;
		if ((fn & 1) || fn == sn) { /* b. */
			if ((rc = jg_merkle_node_hash(p, r, r)) != 0)
				return rc;
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else if ((rc = jg_merkle_node_hash(r, p, r)) != 0) {
			return rc;
		}
		fn >>= 1; /* c. */
		sn >>= 1;
	}
	/* 5. */
	return sn == 0 && hash_eq(r, root) ? 0 : JG_EVERIFY;
}

int
jg_merkle_consistency_verify(uint64_t m, uint64_t n, const uint8_t root_m[HLEN],
			     const uint8_t root_n[HLEN], const uint8_t *proof, size_t proof_len)
{
	uint8_t empty[HLEN], fr[HLEN], sr[HLEN];
	uint64_t fn, sn;
	size_t off = 0;
	int rc;

	if (root_m == NULL || root_n == NULL || (proof == NULL && proof_len > 0))
		return JG_EINVAL;
	if (m > n || proof_len % HLEN != 0)
		return JG_EVERIFY;
	if (m == 0 || m == n) {
		/* Nothing to prove: an empty proof, and the roots say the same. */
		if (proof_len != 0)
			return JG_EVERIFY;
		if (m == 0) {
			if ((rc = jg_merkle_empty_root(empty)) != 0)
				return rc;
			if (!hash_eq(root_m, empty))
				return JG_EVERIFY;
		}
		return m == n && !hash_eq(root_m, root_n) ? JG_EVERIFY : 0;
	}
	/* 0 < m < n: RFC 9162 2.1.4.2.  1. */
	if (proof_len == 0)
		return JG_EVERIFY;
	/* 2., 5.: with m a power of two, root_m is the (prepended) first value. */
	if ((m & (m - 1)) == 0) {
		memcpy(fr, root_m, HLEN);
	} else {
		memcpy(fr, proof, HLEN);
		off = HLEN;
	}
	memcpy(sr, fr, HLEN);
	/* 3., 4. */
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* 6. */
	for (; off < proof_len; off += HLEN) {
		const uint8_t *c = proof + off;

		if (sn == 0) /* a. */
			return JG_EVERIFY;
		if ((fn & 1) || fn == sn) { /* b. */
			if ((rc = jg_merkle_node_hash(c, fr, fr)) != 0 ||
			    (rc = jg_merkle_node_hash(c, sr, sr)) != 0)
				return rc;
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else if ((rc = jg_merkle_node_hash(sr, c, sr)) != 0) { /* c. */
			return rc;
		}
		fn >>= 1;
		sn >>= 1;
	}
	/* 7. */
	return hash_eq(fr, root_m) && hash_eq(sr, root_n) && sn == 0 ? 0 : JG_EVERIFY;
}
