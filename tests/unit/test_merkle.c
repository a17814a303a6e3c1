/*
 * test_merkle.c - unit tests for src/merkle.c.
 *
 * Three kinds of evidence.  Golden vectors: the RFC 6962 8-leaf reference
 * tree (/work/shared/vectors/rfc6962.md), every leaf hash and every root.
 * Exhaustive small trees: every inclusion and consistency proof up to 8
 * leaves, generated from stored nodes, verified, and broken in every way
 * we can think of.  Randomised trees up to 3000 leaves: checked against a
 * plain recursive MTH / PATH / SUBPROOF written here from RFC 6962 2.1 with
 * its own SHA-256 calls, so a shared bug cannot hide.
 *
 * The node store is an in-memory array per level, filled only from what
 * jg_merkle_frontier_append reports as completed; its get_node fails the
 * test if asked for a node that is not complete inside the tree being proven.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <ctype.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jitgate/error.h"
#include "jitgate/merkle.h"

#define H JG_MERKLE_HASH_LEN

/* ---- helpers ---------------------------------------------------------- */

static void
unhex(const char *hex, uint8_t *out, size_t *len)
{
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++) {
		char pair[3] = {hex[2 * i], hex[2 * i + 1], '\0'}, *end = NULL;
		unsigned long v = strtoul(pair, &end, 16);

		assert_true(end == pair + 2 && isxdigit((unsigned char)pair[0]));
		out[i] = (uint8_t)v;
	}
	if (len != NULL)
		*len = n;
}

static void
unhex32(const char *hex, uint8_t out[H])
{
	size_t n;

	assert_int_equal(strlen(hex), 2 * H);
	unhex(hex, out, &n);
}

/* splitmix64: reproducible randomness for the randomised tests. */
static uint64_t rng_state = 0x6a09e667f3bcc908ULL;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A uniform-enough integer in [lo, hi]. */
static uint64_t
rng_range(uint64_t lo, uint64_t hi)
{
	return lo + rng() % (hi - lo + 1);
}

/* ---- reference implementation (RFC 6962 2.1, recursive, own hashing) --- */

static EVP_MD_CTX *ref_ctx; /* freed by group_teardown */

static void
ref_sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[H])
{
	if (ref_ctx == NULL)
		ref_ctx = EVP_MD_CTX_new();
	assert_non_null(ref_ctx);
	assert_int_equal(EVP_DigestInit_ex(ref_ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ref_ctx, a, alen), 1);
	assert_int_equal(EVP_DigestUpdate(ref_ctx, b, blen), 1);
	assert_int_equal(EVP_DigestFinal_ex(ref_ctx, out, NULL), 1);
}

static void
ref_leaf(const uint8_t *data, size_t len, uint8_t out[H])
{
	static const uint8_t zero = 0x00;

	ref_sha256(&zero, 1, data, len, out);
}

static void
ref_node(const uint8_t l[H], const uint8_t r[H], uint8_t out[H])
{
	uint8_t buf[1 + 2 * H];

	buf[0] = 0x01;
	memcpy(buf + 1, l, H);
	memcpy(buf + 1 + H, r, H);
	ref_sha256(buf, sizeof(buf), NULL, 0, out);
}

/* k: the largest power of two smaller than n (n > 1). */
static size_t
ref_k(size_t n)
{
	size_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

/* MTH(D[lo:hi]) over leaf hashes. */
static void
ref_mth(const uint8_t (*lh)[H], size_t lo, size_t hi, uint8_t out[H])
{
	uint8_t l[H], r[H];
	size_t k;

	if (hi == lo) {
		ref_sha256(NULL, 0, NULL, 0, out);
		return;
	}
	if (hi - lo == 1) {
		memcpy(out, lh[lo], H);
		return;
	}
	k = ref_k(hi - lo);
	ref_mth(lh, lo, lo + k, l);
	ref_mth(lh, lo + k, hi, r);
	ref_node(l, r, out);
}

/* PATH(m, D[lo:hi]) appended to out (count hashes so far). */
static void
ref_path(size_t m, const uint8_t (*lh)[H], size_t lo, size_t hi, uint8_t *out, size_t *count)
{
	size_t n = hi - lo, k;

	if (n <= 1)
		return;
	k = ref_k(n);
	if (m < k) {
		ref_path(m, lh, lo, lo + k, out, count);
		ref_mth(lh, lo + k, hi, out + H * (*count)++);
	} else {
		ref_path(m - k, lh, lo + k, hi, out, count);
		ref_mth(lh, lo, lo + k, out + H * (*count)++);
	}
}

/* SUBPROOF(m, D[lo:hi], b) appended to out. */
static void
ref_subproof(size_t m, const uint8_t (*lh)[H], size_t lo, size_t hi, bool b, uint8_t *out,
	     size_t *count)
{
	size_t n = hi - lo, k;

	if (m == n) {
		if (!b)
			ref_mth(lh, lo, hi, out + H * (*count)++);
		return;
	}
	k = ref_k(n);
	if (m <= k) {
		ref_subproof(m, lh, lo, lo + k, b, out, count);
		ref_mth(lh, lo + k, hi, out + H * (*count)++);
	} else {
		ref_subproof(m - k, lh, lo + k, hi, false, out, count);
		ref_mth(lh, lo, lo + k, out + H * (*count)++);
	}
}

/* ---- in-memory node store --------------------------------------------- */

struct store {
	struct jg_merkle_frontier f;
	uint8_t (*leaves)[H]; /* leaf hashes, for the reference */
	uint8_t (*nodes[JG_MERKLE_MAX_LEVELS])[H];
	uint64_t count[JG_MERKLE_MAX_LEVELS];
	uint64_t limit; /* size of the tree being proven */
	unsigned calls; /* get_node calls since reset */
	int fail_with;	/* when nonzero, get_node returns it */
};

#define STORE_MAX 3000

static int
store_setup(void **state)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -1;
	jg_merkle_frontier_init(&s->f);
	s->leaves = calloc(STORE_MAX, H);
	for (unsigned l = 0; l < 13; l++)
		s->nodes[l] = calloc((STORE_MAX >> l) + 1, H);
	*state = s;
	return 0;
}

static int
store_teardown(void **state)
{
	struct store *s = *state;

	for (unsigned l = 0; l < JG_MERKLE_MAX_LEVELS; l++)
		free(s->nodes[l]);
	free(s->leaves);
	free(s);
	return 0;
}

static int
store_get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[H])
{
	struct store *s = ctx;

	s->calls++;
	if (s->fail_with != 0)
		return s->fail_with;
	assert_true(level < JG_MERKLE_MAX_LEVELS);
	assert_true(index < s->count[level]);
	/* Only complete nodes inside the tree being proven. */
	assert_true(((index + 1) << level) <= s->limit);
	memcpy(out, s->nodes[level][index], H);
	return 0;
}

/* Appends a leaf and stores exactly the nodes the append says it completed. */
static void
store_append(struct store *s, const uint8_t leaf[H])
{
	struct jg_merkle_node done[JG_MERKLE_MAX_LEVELS];
	uint64_t n = s->f.size;
	size_t nc = 99, want = 1;

	assert_true(n < STORE_MAX);
	while (n >> (want - 1) & 1)
		want++;
	assert_int_equal(jg_merkle_frontier_append(&s->f, leaf, done, &nc), 0);
	assert_int_equal(nc, want);
	assert_int_equal(s->f.size, n + 1);
	for (size_t j = 0; j < nc; j++) {
		assert_int_equal(done[j].level, j);
		assert_int_equal(done[j].index, n >> j);
		assert_int_equal(done[j].index, s->count[j]); /* nodes arrive in order */
		memcpy(s->nodes[j][s->count[j]++], done[j].hash, H);
	}
	memcpy(s->leaves[n], leaf, H);
}

/* ---- the RFC 6962 reference tree -------------------------------------- */

static const char *const rfc_data[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const char *const rfc_leaf[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
};
static const char *const rfc_root[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

/* Fills the store with the 8 reference leaves (hashed by the module). */
static int
rfc_setup(void **state)
{
	struct store *s;

	if (store_setup(state) != 0)
		return -1;
	s = *state;
	for (int i = 0; i < 8; i++) {
		uint8_t data[16], leaf[H];
		size_t len;

		unhex(rfc_data[i], data, &len);
		if (jg_merkle_leaf_hash(data, len, leaf) != 0)
			return -1;
		store_append(s, leaf);
	}
	return 0;
}

static void
test_merkle_empty_root_golden(void **state)
{
	struct jg_merkle_frontier f;
	uint8_t want[H], got[H];

	(void)state;
	unhex32(rfc_root[0], want);
	assert_int_equal(jg_merkle_empty_root(got), 0);
	assert_memory_equal(got, want, H);
	jg_merkle_frontier_init(&f);
	assert_int_equal(jg_merkle_frontier_root(&f, got), 0);
	assert_memory_equal(got, want, H);
	assert_int_equal(jg_merkle_root_from_leaves(NULL, 0, got), 0);
	assert_memory_equal(got, want, H);
	assert_int_equal(jg_merkle_root_from_nodes(0, store_get_node, NULL, got), 0);
	assert_memory_equal(got, want, H);
}

static void
test_merkle_leaf_hash_golden(void **state)
{
	uint8_t data[16], want[H], got[H];
	size_t len;

	(void)state;
	for (int i = 0; i < 8; i++) {
		unhex(rfc_data[i], data, &len);
		unhex32(rfc_leaf[i], want);
		assert_int_equal(jg_merkle_leaf_hash(len ? data : NULL, len, got), 0);
		assert_memory_equal(got, want, H);
	}
	assert_int_equal(jg_merkle_leaf_hash(NULL, 1, got), JG_EINVAL);
}

static void
test_merkle_node_hash_golden(void **state)
{
	uint8_t l[H], r[H], want[H], got[H];

	(void)state;
	/* root(2) = node(leaf 0, leaf 1), also with out aliasing an input. */
	unhex32(rfc_leaf[0], l);
	unhex32(rfc_leaf[1], r);
	unhex32(rfc_root[2], want);
	assert_int_equal(jg_merkle_node_hash(l, r, got), 0);
	assert_memory_equal(got, want, H);
	assert_int_equal(jg_merkle_node_hash(l, r, l), 0);
	assert_memory_equal(l, want, H);
	unhex32(rfc_leaf[0], l);
	assert_int_equal(jg_merkle_node_hash(l, r, r), 0);
	assert_memory_equal(r, want, H);
}

static void
test_merkle_frontier_root_golden(void **state)
{
	struct store *s = *state;
	struct jg_merkle_frontier f;
	uint8_t want[H], got[H];

	jg_merkle_frontier_init(&f);
	for (int n = 1; n <= 8; n++) {
		unhex32(rfc_root[n], want);
		assert_int_equal(jg_merkle_frontier_append(&f, s->leaves[n - 1], NULL, NULL), 0);
		assert_int_equal(jg_merkle_frontier_root(&f, got), 0);
		assert_memory_equal(got, want, H);
		assert_int_equal(jg_merkle_root_from_leaves(s->leaves[0], (size_t)n, got), 0);
		assert_memory_equal(got, want, H);
		s->limit = (uint64_t)n;
		assert_int_equal(jg_merkle_root_from_nodes((uint64_t)n, store_get_node, s, got), 0);
		assert_memory_equal(got, want, H);
	}
	/* The stored node (3, 0) is the root of the full 8-leaf tree. */
	assert_int_equal(s->count[3], 1);
	assert_memory_equal(s->nodes[3][0], want, H);
}

static void
test_merkle_frontier_append_completed(void **state)
{
	struct jg_merkle_frontier f;
	struct jg_merkle_node done[JG_MERKLE_MAX_LEVELS];
	uint8_t leaf[H] = {0}, before[sizeof(f)];
	size_t nc;

	(void)state;
	/* Without an out-array. */
	jg_merkle_frontier_init(&f);
	assert_int_equal(jg_merkle_frontier_append(&f, leaf, NULL, NULL), 0);
	assert_int_equal(f.size, 1);

	/* Size 2^63 - 1: the next leaf completes one node at every level 0..63. */
	memset(&f, 0, sizeof(f));
	f.size = UINT64_MAX >> 1;
	assert_int_equal(jg_merkle_frontier_append(&f, leaf, done, &nc), 0);
	assert_int_equal(nc, 64);
	assert_int_equal(f.size, (uint64_t)1 << 63);
	for (unsigned j = 0; j < 64; j++) {
		assert_int_equal(done[j].level, j);
		assert_int_equal(done[j].index, (UINT64_MAX >> 1) >> j);
	}
	assert_memory_equal(f.hash[63], done[63].hash, H);

	/* A full frontier refuses and stays as it was. */
	f.size = UINT64_MAX;
	memcpy(before, &f, sizeof(f));
	assert_int_equal(jg_merkle_frontier_append(&f, leaf, done, &nc), JG_ETOOBIG);
	assert_memory_equal(&f, before, sizeof(f));
}

static void
test_merkle_frontier_encode_layout(void **state)
{
	struct store *s = *state;
	struct jg_merkle_frontier f, g;
	uint8_t buf[JG_MERKLE_FRONTIER_MAX_BYTES + 1], want[8 + 2 * H];
	size_t len;

	/* Empty tree: eight zero bytes. */
	jg_merkle_frontier_init(&f);
	assert_int_equal(jg_merkle_frontier_encode(&f, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 8);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0", 8);

	/* Size 5 = 0b101: size, then the 4-leaf subtree, then leaf 4. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(jg_merkle_frontier_append(&f, s->leaves[i], NULL, NULL), 0);
	memset(want, 0, 8);
	want[7] = 5;
	unhex32(rfc_root[4], want + 8);
	unhex32(rfc_leaf[4], want + 8 + H);
	assert_int_equal(jg_merkle_frontier_encode(&f, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(jg_merkle_frontier_decode(buf, len, &g), 0);
	assert_memory_equal(&g, &f, sizeof(f));

	/* Too small a buffer. */
	assert_int_equal(jg_merkle_frontier_encode(&f, buf, len - 1, &len), JG_ETOOBIG);

	/* Wrong lengths are refused and leave the output alone. */
	len = sizeof(want);
	assert_int_equal(jg_merkle_frontier_decode(buf, 0, &g), JG_EPARSE);
	assert_int_equal(jg_merkle_frontier_decode(buf, 7, &g), JG_EPARSE);
	assert_int_equal(jg_merkle_frontier_decode(buf, 8, &g), JG_EPARSE);
	assert_int_equal(jg_merkle_frontier_decode(buf, len - 1, &g), JG_EPARSE);
	assert_int_equal(jg_merkle_frontier_decode(buf, len - H, &g), JG_EPARSE);
	memset(buf + len, 0, H);
	assert_int_equal(jg_merkle_frontier_decode(buf, len + H, &g), JG_EPARSE);
	assert_int_equal(jg_merkle_frontier_decode(NULL, 8, &g), JG_EPARSE);
	assert_memory_equal(&g, &f, sizeof(f));

	/* The largest size has 64 subtrees and fills the maximum. */
	memset(&f, 0xab, sizeof(f));
	f.size = UINT64_MAX;
	assert_int_equal(jg_merkle_frontier_encode(&f, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, JG_MERKLE_FRONTIER_MAX_BYTES);
	assert_int_equal(jg_merkle_frontier_decode(buf, len, &g), 0);
	assert_memory_equal(&g, &f, sizeof(f));
}

/* ---- proof checks shared by the exhaustive and randomised tests -------- */

static void
flip(uint8_t *p, size_t bit)
{
	p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* Generates PATH(i, D[n]) from the store, compares with the reference, verifies it. */
static void
check_inclusion(struct store *s, uint64_t i, uint64_t n, bool negatives)
{
	uint8_t proof[JG_MERKLE_MAX_PROOF_BYTES + 2 * H], ref[JG_MERKLE_MAX_PROOF_BYTES];
	uint8_t root[H], bad[H];
	size_t len = 0, rcount = 0;
	unsigned depth = 0;

	while (((uint64_t)1 << depth) < n)
		depth++;
	ref_mth((const uint8_t(*)[H])s->leaves, 0, n, root);
	s->limit = n;
	s->calls = 0;
	assert_int_equal(
	    jg_merkle_inclusion_proof(i, n, store_get_node, s, proof, sizeof(proof), &len), 0);
	assert_true(s->calls <= 2 * depth);
	ref_path(i, (const uint8_t(*)[H])s->leaves, 0, n, ref, &rcount);
	assert_int_equal(len, rcount * H);
	assert_memory_equal(proof, ref, len);
	assert_int_equal(jg_merkle_inclusion_verify(i, n, s->leaves[i], proof, len, root), 0);
	if (!negatives)
		return;

	/* Wrong index, including past the end. */
	for (uint64_t j = 0; j <= n + 1; j++)
		if (j != i)
			assert_int_equal(
			    jg_merkle_inclusion_verify(j, n, s->leaves[i], proof, len, root),
			    JG_EVERIFY);
	/* Wrong leaf, wrong root. */
	memcpy(bad, s->leaves[i], H);
	flip(bad, 0);
	assert_int_equal(jg_merkle_inclusion_verify(i, n, bad, proof, len, root), JG_EVERIFY);
	for (size_t bit = 0; bit < 8 * H; bit += 37) {
		memcpy(bad, root, H);
		flip(bad, bit);
		assert_int_equal(jg_merkle_inclusion_verify(i, n, s->leaves[i], proof, len, bad),
				 JG_EVERIFY);
	}
	/* Truncated, extended, ragged. */
	if (len > 0) {
		assert_int_equal(
		    jg_merkle_inclusion_verify(i, n, s->leaves[i], proof, len - H, root),
		    JG_EVERIFY);
		assert_int_equal(
		    jg_merkle_inclusion_verify(i, n, s->leaves[i], proof + H, len - H, root),
		    JG_EVERIFY);
		assert_int_equal(
		    jg_merkle_inclusion_verify(i, n, s->leaves[i], proof, len - 1, root),
		    JG_EVERIFY);
	}
	memcpy(proof + len, root, H);
	memset(proof + len + H, 0, H);
	assert_int_equal(jg_merkle_inclusion_verify(i, n, s->leaves[i], proof, len + H, root),
			 JG_EVERIFY);
	assert_int_equal(jg_merkle_inclusion_verify(i, n, s->leaves[i], proof, len + 2 * H, root),
			 JG_EVERIFY);
	assert_int_equal(jg_merkle_inclusion_verify(i, n, s->leaves[i], proof, len + 1, root),
			 JG_EVERIFY);
	/* Every bit of the proof matters. */
	for (size_t bit = 0; bit < 8 * len; bit++) {
		flip(proof, bit);
		assert_int_equal(jg_merkle_inclusion_verify(i, n, s->leaves[i], proof, len, root),
				 JG_EVERIFY);
		flip(proof, bit);
	}
	assert_int_equal(jg_merkle_inclusion_verify(i, n, s->leaves[i], proof, len, root), 0);
}

/* Generates PROOF(m, D[n]) from the store, compares with the reference, verifies it. */
static void
check_consistency(struct store *s, uint64_t m, uint64_t n, bool negatives)
{
	uint8_t proof[JG_MERKLE_MAX_PROOF_BYTES + 2 * H], ref[JG_MERKLE_MAX_PROOF_BYTES];
	uint8_t root_m[H], root_n[H], bad[H];
	size_t len = 99, rcount = 0;
	unsigned depth = 0;

	while (((uint64_t)1 << depth) < n)
		depth++;
	ref_mth((const uint8_t(*)[H])s->leaves, 0, m, root_m);
	ref_mth((const uint8_t(*)[H])s->leaves, 0, n, root_n);
	s->limit = n;
	s->calls = 0;
	assert_int_equal(
	    jg_merkle_consistency_proof(m, n, store_get_node, s, proof, sizeof(proof), &len), 0);
	assert_true(s->calls <= 2 * depth + 1);
	if (m > 0 && m < n)
		ref_subproof(m, (const uint8_t(*)[H])s->leaves, 0, n, true, ref, &rcount);
	assert_int_equal(len, rcount * H);
	assert_memory_equal(proof, ref, len);
	assert_int_equal(jg_merkle_consistency_verify(m, n, root_m, root_n, proof, len), 0);
	if (!negatives)
		return;

	/* Wrong old size. */
	for (uint64_t j = 0; j <= n + 1; j++)
		if (j != m)
			assert_int_equal(
			    jg_merkle_consistency_verify(j, n, root_m, root_n, proof, len),
			    JG_EVERIFY);
	/* Wrong roots. */
	for (size_t bit = 0; bit < 8 * H; bit += 37) {
		memcpy(bad, root_m, H);
		flip(bad, bit);
		assert_int_equal(jg_merkle_consistency_verify(m, n, bad, root_n, proof, len),
				 JG_EVERIFY);
		memcpy(bad, root_n, H);
		flip(bad, bit);
		if (m != 0) /* the empty tree is a prefix of any tree: root_n is not checked */
			assert_int_equal(
			    jg_merkle_consistency_verify(m, n, root_m, bad, proof, len),
			    JG_EVERIFY);
	}
	/* Truncated, extended, ragged. */
	if (len > 0) {
		assert_int_equal(jg_merkle_consistency_verify(m, n, root_m, root_n, proof, len - H),
				 JG_EVERIFY);
		assert_int_equal(
		    jg_merkle_consistency_verify(m, n, root_m, root_n, proof + H, len - H),
		    JG_EVERIFY);
		assert_int_equal(jg_merkle_consistency_verify(m, n, root_m, root_n, proof, len - 1),
				 JG_EVERIFY);
	}
	memcpy(proof + len, root_n, H);
	memset(proof + len + H, 0, H);
	assert_int_equal(jg_merkle_consistency_verify(m, n, root_m, root_n, proof, len + H),
			 JG_EVERIFY);
	assert_int_equal(jg_merkle_consistency_verify(m, n, root_m, root_n, proof, len + 2 * H),
			 JG_EVERIFY);
	assert_int_equal(jg_merkle_consistency_verify(m, n, root_m, root_n, proof, len + 1),
			 JG_EVERIFY);
	/* Every bit of the proof matters. */
	for (size_t bit = 0; bit < 8 * len; bit++) {
		flip(proof, bit);
		assert_int_equal(jg_merkle_consistency_verify(m, n, root_m, root_n, proof, len),
				 JG_EVERIFY);
		flip(proof, bit);
	}
	assert_int_equal(jg_merkle_consistency_verify(m, n, root_m, root_n, proof, len), 0);
}

static void
test_merkle_inclusion_proof_rfc_tree(void **state)
{
	struct store *s = *state;
	uint8_t got[H], want[H];

	for (uint64_t n = 1; n <= 8; n++) {
		/* The reference gives the golden roots, so the proofs verify against them. */
		ref_mth((const uint8_t(*)[H])s->leaves, 0, n, got);
		unhex32(rfc_root[n], want);
		assert_memory_equal(got, want, H);
		for (uint64_t i = 0; i < n; i++)
			check_inclusion(s, i, n, true);
	}
}

static void
test_merkle_consistency_proof_rfc_tree(void **state)
{
	struct store *s = *state;
	uint8_t got[H], want[H];

	for (uint64_t n = 1; n <= 8; n++) {
		ref_mth((const uint8_t(*)[H])s->leaves, 0, n, got);
		unhex32(rfc_root[n], want);
		assert_memory_equal(got, want, H);
		for (uint64_t m = 0; m <= n; m++)
			check_consistency(s, m, n, true);
	}
}

/* Known proofs in the reference tree, spelled out. */
static void
test_merkle_proofs_rfc_known(void **state)
{
	struct store *s = *state;
	uint8_t proof[JG_MERKLE_MAX_PROOF_BYTES], want[3 * H], root[H];
	size_t len;

	/* PATH(0, D[8]) = leaf 1, node(leaf 2, leaf 3), node over leaves 4..7 */
	s->limit = 8;
	assert_int_equal(
	    jg_merkle_inclusion_proof(0, 8, store_get_node, s, proof, sizeof(proof), &len), 0);
	assert_int_equal(len, 3 * H);
	memcpy(want, s->leaves[1], H);
	assert_int_equal(jg_merkle_node_hash(s->leaves[2], s->leaves[3], want + H), 0);
	assert_int_equal(jg_merkle_root_from_leaves(s->leaves[4], 4, want + 2 * H), 0);
	assert_memory_equal(proof, want, 3 * H);

	/* PROOF(3, D[7]) = leaf 2, leaf 3, node(leaves 0, 1), MTH(leaves 4..6)  (RFC 6962 2.1.3) */
	s->limit = 7;
	assert_int_equal(
	    jg_merkle_consistency_proof(3, 7, store_get_node, s, proof, sizeof(proof), &len), 0);
	assert_int_equal(len, 4 * H);
	assert_memory_equal(proof, s->leaves[2], H);
	assert_memory_equal(proof + H, s->leaves[3], H);
	unhex32(rfc_root[2], want);
	assert_memory_equal(proof + 2 * H, want, H);
	assert_int_equal(jg_merkle_root_from_leaves(s->leaves[4], 3, root), 0);
	assert_memory_equal(proof + 3 * H, root, H);

	/* PROOF(4, D[7]) = MTH(leaves 4..6): root_m itself is not sent. */
	assert_int_equal(
	    jg_merkle_consistency_proof(4, 7, store_get_node, s, proof, sizeof(proof), &len), 0);
	assert_int_equal(len, H);
	assert_memory_equal(proof, root, H);
}

static void
test_merkle_inclusion_verify_edges(void **state)
{
	uint8_t leaf[H], root[H], other[H];

	(void)state;
	unhex32(rfc_leaf[0], leaf);
	unhex32(rfc_root[1], root);
	unhex32(rfc_leaf[1], other);
	/* One leaf: empty proof, root = leaf hash. */
	assert_int_equal(jg_merkle_inclusion_verify(0, 1, leaf, NULL, 0, root), 0);
	assert_int_equal(jg_merkle_inclusion_verify(0, 1, other, NULL, 0, root), JG_EVERIFY);
	assert_int_equal(jg_merkle_inclusion_verify(0, 1, leaf, other, H, root), JG_EVERIFY);
	/* The empty tree holds nothing. */
	assert_int_equal(jg_merkle_inclusion_verify(0, 0, leaf, NULL, 0, root), JG_EVERIFY);
	assert_int_equal(jg_merkle_inclusion_verify(UINT64_MAX, UINT64_MAX, leaf, NULL, 0, root),
			 JG_EVERIFY);
	/* A leaf is not a tree of two. */
	assert_int_equal(jg_merkle_inclusion_verify(0, 2, leaf, NULL, 0, root), JG_EVERIFY);
	assert_int_equal(jg_merkle_inclusion_verify(0, 1, NULL, NULL, 0, root), JG_EINVAL);
	assert_int_equal(jg_merkle_inclusion_verify(0, 1, leaf, NULL, 0, NULL), JG_EINVAL);
	assert_int_equal(jg_merkle_inclusion_verify(0, 2, leaf, NULL, H, root), JG_EINVAL);
}

static void
test_merkle_consistency_verify_edges(void **state)
{
	uint8_t empty[H], r1[H], r2[H], r3[H], l2[H];

	(void)state;
	unhex32(rfc_root[0], empty);
	unhex32(rfc_root[1], r1);
	unhex32(rfc_root[2], r2);
	unhex32(rfc_root[3], r3);
	unhex32(rfc_leaf[2], l2);
	/* m == 0: empty proof and the empty root; any later root. */
	assert_int_equal(jg_merkle_consistency_verify(0, 3, empty, r3, NULL, 0), 0);
	assert_int_equal(jg_merkle_consistency_verify(0, 0, empty, empty, NULL, 0), 0);
	assert_int_equal(jg_merkle_consistency_verify(0, 3, r1, r3, NULL, 0), JG_EVERIFY);
	assert_int_equal(jg_merkle_consistency_verify(0, 3, empty, r3, r3, H), JG_EVERIFY);
	assert_int_equal(jg_merkle_consistency_verify(0, 0, empty, r1, NULL, 0), JG_EVERIFY);
	/* m == n: empty proof and the same root. */
	assert_int_equal(jg_merkle_consistency_verify(3, 3, r3, r3, NULL, 0), 0);
	assert_int_equal(jg_merkle_consistency_verify(3, 3, r3, r2, NULL, 0), JG_EVERIFY);
	assert_int_equal(jg_merkle_consistency_verify(3, 3, r3, r3, r3, H), JG_EVERIFY);
	/* m > n never. */
	assert_int_equal(jg_merkle_consistency_verify(3, 2, r3, r2, NULL, 0), JG_EVERIFY);
	assert_int_equal(jg_merkle_consistency_verify(3, 2, r3, r2, l2, H), JG_EVERIFY);
	/* 0 < m < n: an empty proof fails (RFC 9162 2.1.4.2 step 1). */
	assert_int_equal(jg_merkle_consistency_verify(2, 3, r2, r3, NULL, 0), JG_EVERIFY);
	assert_int_equal(jg_merkle_consistency_verify(2, 3, r2, r3, l2, H), 0);
	assert_int_equal(jg_merkle_consistency_verify(2, 3, r2, r3, l2, H - 1), JG_EVERIFY);
	assert_int_equal(jg_merkle_consistency_verify(2, 3, NULL, r3, l2, H), JG_EINVAL);
	assert_int_equal(jg_merkle_consistency_verify(2, 3, r2, NULL, l2, H), JG_EINVAL);
	assert_int_equal(jg_merkle_consistency_verify(2, 3, r2, r3, NULL, H), JG_EINVAL);
}

static void
test_merkle_proof_errors(void **state)
{
	struct store *s = *state;
	uint8_t proof[JG_MERKLE_MAX_PROOF_BYTES], root[H];
	size_t len = 7;

	s->limit = 8;
	assert_int_equal(
	    jg_merkle_inclusion_proof(8, 8, store_get_node, s, proof, sizeof(proof), &len),
	    JG_EINVAL);
	assert_int_equal(
	    jg_merkle_inclusion_proof(0, 0, store_get_node, s, proof, sizeof(proof), &len),
	    JG_EINVAL);
	assert_int_equal(
	    jg_merkle_consistency_proof(5, 4, store_get_node, s, proof, sizeof(proof), &len),
	    JG_EINVAL);
	assert_int_equal(len, 7);
	/* Too small a buffer. */
	assert_int_equal(jg_merkle_inclusion_proof(0, 8, store_get_node, s, proof, 3 * H - 1, &len),
			 JG_ETOOBIG);
	assert_int_equal(jg_merkle_consistency_proof(3, 7, store_get_node, s, proof, 3 * H, &len),
			 JG_ETOOBIG);
	assert_int_equal(jg_merkle_inclusion_proof(0, 8, store_get_node, s, proof, 3 * H, &len), 0);
	assert_int_equal(len, 3 * H);
	/* The store's errors come back unchanged; a positive one becomes JG_ESTORE. */
	s->fail_with = JG_ENOTFOUND;
	assert_int_equal(
	    jg_merkle_inclusion_proof(0, 8, store_get_node, s, proof, sizeof(proof), &len),
	    JG_ENOTFOUND);
	assert_int_equal(
	    jg_merkle_consistency_proof(3, 7, store_get_node, s, proof, sizeof(proof), &len),
	    JG_ENOTFOUND);
	assert_int_equal(jg_merkle_root_from_nodes(5, store_get_node, s, root), JG_ENOTFOUND);
	s->fail_with = 1;
	assert_int_equal(
	    jg_merkle_inclusion_proof(0, 8, store_get_node, s, proof, sizeof(proof), &len),
	    JG_ESTORE);
	assert_int_equal(
	    jg_merkle_consistency_proof(3, 7, store_get_node, s, proof, sizeof(proof), &len),
	    JG_ESTORE);
	s->fail_with = 0;
	/* Trivial consistency proofs read nothing. */
	s->calls = 0;
	assert_int_equal(jg_merkle_consistency_proof(0, 8, store_get_node, s, proof, 0, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(jg_merkle_consistency_proof(8, 8, store_get_node, s, proof, 0, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(s->calls, 0);
}

/* Every proof in every tree up to 64 random leaves, against the reference. */
static void
test_merkle_proofs_exhaustive_64(void **state)
{
	struct store *s = *state;

	for (int i = 0; i < 64; i++) {
		uint64_t r = rng();
		uint8_t leaf[H];

		ref_leaf((const uint8_t *)&r, sizeof(r), leaf);
		store_append(s, leaf);
	}
	for (uint64_t n = 1; n <= 64; n++) {
		for (uint64_t i = 0; i < n; i++)
			check_inclusion(s, i, n, false);
		for (uint64_t m = 0; m <= n; m++)
			check_consistency(s, m, n, false);
	}
}

/* Is size worth a full O(n) reference root? */
static bool
sampled(uint64_t n)
{
	uint64_t p = 1;

	if (n <= 70)
		return true;
	while (p <= n + 1) {
		if (n + 1 == p || n == p || n == p + 1)
			return true;
		p <<= 1;
	}
	return rng() % 16 == 0;
}

/* Empties the store for another tree. */
static void
store_reset(struct store *s)
{
	jg_merkle_frontier_init(&s->f);
	memset(s->count, 0, sizeof(s->count));
}

/*
 * One random tree of total leaves: after every append the frontier
 * round-trips through its serialisation, rebuilds from the stored nodes,
 * and (at sampled sizes) has the reference root; then random proofs,
 * byte-for-byte against the reference.
 */
static void
random_tree(struct store *s, uint64_t total)
{
	uint8_t got[H], want[H];

	store_reset(s);
	for (uint64_t n = 1; n <= total; n++) {
		struct jg_merkle_frontier g;
		uint8_t buf[JG_MERKLE_FRONTIER_MAX_BYTES], leaf[H], data[40];
		size_t dlen = (size_t)rng_range(8, sizeof(data)), len;

		/* Distinct leaves (equal neighbours make the wrong-index checks pass). */
		memcpy(data, &n, 8);
		for (size_t j = 8; j < dlen; j++)
			data[j] = (uint8_t)rng();
		assert_int_equal(jg_merkle_leaf_hash(data, dlen, leaf), 0);
		ref_leaf(data, dlen, want);
		assert_memory_equal(leaf, want, H);
		store_append(s, leaf);

		assert_int_equal(jg_merkle_frontier_encode(&s->f, buf, sizeof(buf), &len), 0);
		assert_int_equal(len, 8 + H * (size_t)__builtin_popcountll(n));
		assert_int_equal(jg_merkle_frontier_decode(buf, len, &g), 0);
		assert_memory_equal(&g, &s->f, sizeof(g));

		s->limit = n;
		assert_int_equal(jg_merkle_frontier_from_nodes(n, store_get_node, s, &g), 0);
		assert_memory_equal(&g, &s->f, sizeof(g));

		assert_int_equal(jg_merkle_frontier_root(&s->f, got), 0);
		s->calls = 0;
		assert_int_equal(jg_merkle_root_from_nodes(n, store_get_node, s, want), 0);
		assert_int_equal(s->calls, __builtin_popcountll(n));
		assert_memory_equal(got, want, H);
		if (sampled(n)) {
			ref_mth((const uint8_t(*)[H])s->leaves, 0, n, want);
			assert_memory_equal(got, want, H);
		}
	}
	assert_int_equal(jg_merkle_root_from_leaves(s->leaves[0], total, want), 0);
	assert_int_equal(jg_merkle_frontier_root(&s->f, got), 0);
	assert_memory_equal(got, want, H);

	/* Random proofs, a few with the negative checks. */
	for (int t = 0; t < 64; t++) {
		uint64_t n = rng_range(1, total), i = rng_range(0, n - 1), m = rng_range(0, n);

		check_inclusion(s, i, n, t < 10);
		check_consistency(s, m, n, t < 10);
	}
	/* Edges of the last tree. */
	check_inclusion(s, 0, total, false);
	check_inclusion(s, total - 1, total, false);
	check_consistency(s, 1, total, false);
	check_consistency(s, total - 1, total, false);
	if (total >= 2047) {
		check_consistency(s, 1024, total, false);
		check_consistency(s, 2047, total, false);
	}
}

static void
test_merkle_frontier_randomized(void **state)
{
	struct store *s = *state;

	random_tree(s, STORE_MAX);
	random_tree(s, rng_range(1000, STORE_MAX - 1));
	random_tree(s, rng_range(1, 999));
}

static int
group_teardown(void **state)
{
	(void)state;
	EVP_MD_CTX_free(ref_ctx);
	ref_ctx = NULL;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merkle_empty_root_golden),
	    cmocka_unit_test(test_merkle_leaf_hash_golden),
	    cmocka_unit_test(test_merkle_node_hash_golden),
	    cmocka_unit_test_setup_teardown(test_merkle_frontier_root_golden, rfc_setup,
					    store_teardown),
	    cmocka_unit_test(test_merkle_frontier_append_completed),
	    cmocka_unit_test_setup_teardown(test_merkle_frontier_encode_layout, rfc_setup,
					    store_teardown),
	    cmocka_unit_test_setup_teardown(test_merkle_inclusion_proof_rfc_tree, rfc_setup,
					    store_teardown),
	    cmocka_unit_test_setup_teardown(test_merkle_consistency_proof_rfc_tree, rfc_setup,
					    store_teardown),
	    cmocka_unit_test_setup_teardown(test_merkle_proofs_rfc_known, rfc_setup,
					    store_teardown),
	    cmocka_unit_test(test_merkle_inclusion_verify_edges),
	    cmocka_unit_test(test_merkle_consistency_verify_edges),
	    cmocka_unit_test_setup_teardown(test_merkle_proof_errors, rfc_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_merkle_proofs_exhaustive_64, store_setup,
					    store_teardown),
	    cmocka_unit_test_setup_teardown(test_merkle_frontier_randomized, store_setup,
					    store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
