/*
 * audit_chain.c - verify entries in order, with the heavy work in parallel.
 *
 * A batch is split into contiguous slices, one per thread; each thread
 * checks its entries' form (jg_chain_entry_parse: canonical JSON, fields,
 * types) and computes their leaf hashes.  Then one pass in order checks
 * seq continuity and prev links and extends the Merkle frontier.  The first
 * failure in entry order is reported, whichever thread found it.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/audit_chain.h"
#include "jitgate/canon.h"
#include "jitgate/codec.h"
#include "jitgate/error.h"

#define PARALLEL_MIN 256 /* below this a batch is checked on the calling thread */
#define MAX_THREADS  16

static const char *const fields[] = {"actor", "data", "prev", "seq", "ts", "type", "v"};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static bool
valid_type(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 64 || t[0] < 'a' || t[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

int
jg_chain_entry_parse(const char *buf, size_t len, uint64_t *seq, uint8_t prev[32], json_t **doc,
		     char *why, size_t whylen)
{
	json_t *e = NULL, *v;
	int rc = JG_EPARSE;

	if (doc)
		*doc = NULL;
	if (len > JG_AUDIT_MAX_ENTRY) {
		snprintf(why, whylen, "entry larger than %d bytes", JG_AUDIT_MAX_ENTRY);
		return JG_EPARSE;
	}
	if (jg_canon_check(buf, len, &e, why, whylen) != 0)
		return JG_EPARSE;
	if (!json_is_object(e)) {
		snprintf(why, whylen, "entry is not a JSON object");
		goto out;
	}
	if (json_object_size(e) != NFIELDS) {
		snprintf(why, whylen,
			 "entry must have exactly the fields actor, data, prev, seq, "
			 "ts, type, v");
		goto out;
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		if (json_object_get(e, fields[i]) == NULL) {
			snprintf(why, whylen, "entry lacks the field '%s'", fields[i]);
			goto out;
		}
	}
	v = json_object_get(e, "v");
	if (!json_is_integer(v) || json_integer_value(v) != JG_AUDIT_VERSION) {
		snprintf(why, whylen, "unknown entry version (v must be %d)", JG_AUDIT_VERSION);
		goto out;
	}
	v = json_object_get(e, "seq");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(why, whylen, "seq must be a non-negative integer");
		goto out;
	}
	*seq = (uint64_t)json_integer_value(v);
	v = json_object_get(e, "ts");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(why, whylen, "ts must be a non-negative integer (Unix milliseconds)");
		goto out;
	}
	v = json_object_get(e, "type");
	if (!json_is_string(v) || !valid_type(json_string_value(v))) {
		snprintf(why, whylen, "type must match [a-z][a-z0-9._-]{0,63}");
		goto out;
	}
	v = json_object_get(e, "actor");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		snprintf(why, whylen, "actor must be a non-empty string");
		goto out;
	}
	if (!json_is_object(json_object_get(e, "data"))) {
		snprintf(why, whylen, "data must be an object");
		goto out;
	}
	v = json_object_get(e, "prev");
	if (!json_is_string(v) || jg_unhex32(json_string_value(v), prev) != 0) {
		snprintf(why, whylen, "prev must be 64 lower-case hex digits");
		goto out;
	}
	rc = 0;
	if (doc) {
		*doc = e;
		e = NULL;
	}
out:
	json_decref(e);
	return rc;
}

struct item {
	uint64_t seq;
	uint8_t prev[32];
	uint8_t leaf[32];
	int bad;
	char why[256];
};

struct slice {
	const char *const *bufs;
	const size_t *lens;
	struct item *items;
	size_t from, to;
	int crypto_failed;
};

static void *
check_slice(void *arg)
{
	struct slice *s = arg;
	for (size_t i = s->from; i < s->to; i++) {
		struct item *it = &s->items[i];
		if (jg_chain_entry_parse(s->bufs[i], s->lens[i], &it->seq, it->prev, NULL, it->why,
					 sizeof(it->why)) != 0) {
			it->bad = 1;
			continue;
		}
		if (jg_merkle_leaf_hash(s->bufs[i], s->lens[i], it->leaf) != 0)
			s->crypto_failed = 1;
	}
	return NULL;
}

int
jg_chain_fault_set(struct jg_chain_fault *fault, uint64_t seq, const char *fmt, ...)
{
	va_list ap;
	fault->seq = seq;
	va_start(ap, fmt);
	/* a reason cut short is still a reason: vsnprintf NUL-terminates it */
	(void)vsnprintf(fault->why, sizeof(fault->why), fmt, ap);
	va_end(ap);
	return JG_EVERIFY;
}

void
jg_chain_init(struct jg_chain *c, int threads)
{
	memset(c, 0, sizeof(*c));
	jg_merkle_frontier_init(&c->tree);
	c->threads = threads < 1 ? 1 : (threads > MAX_THREADS ? MAX_THREADS : threads);
}

static int
fault_at(struct jg_chain_fault *fault, uint64_t seq, const char *why)
{
	if (fault) {
		fault->seq = seq;
		size_t n = strnlen(why, sizeof(fault->why) - 1);
		memcpy(fault->why, why, n);
		fault->why[n] = '\0';
	}
	return JG_EVERIFY;
}

int
jg_chain_feed(struct jg_chain *c, const char *const *bufs, const size_t *lens, size_t n,
	      jg_chain_node_fn on_node, void *ctx, uint8_t *leaf_hashes,
	      struct jg_chain_fault *fault)
{
	struct item *items;
	struct slice slices[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	int nthreads = 1;
	int rc = 0;

	/* slices[] holds MAX_THREADS: the count is bounded here, not only by jg_chain_init */
	if (n >= PARALLEL_MIN && c->threads > 1)
		nthreads = c->threads < MAX_THREADS ? c->threads : MAX_THREADS;
	if (n == 0)
		return 0;
	items = calloc(n, sizeof(*items));
	if (items == NULL)
		return JG_ENOMEM;
	for (int t = 0; t < nthreads; t++) {
		slices[t] = (struct slice){.bufs = bufs,
					   .lens = lens,
					   .items = items,
					   .from = n * (size_t)t / (size_t)nthreads,
					   .to = n * (size_t)(t + 1) / (size_t)nthreads};
		if (t > 0 && pthread_create(&tids[t], NULL, check_slice, &slices[t]) != 0) {
			check_slice(&slices[t]); /* no thread: do it here */
			tids[t] = 0;
		}
	}
	check_slice(&slices[0]);
	for (int t = 1; t < nthreads; t++)
		if (tids[t] != 0)
			pthread_join(tids[t], NULL);
	for (int t = 0; t < nthreads; t++)
		if (slices[t].crypto_failed)
			rc = JG_ECRYPTO;
	if (rc != 0)
		goto out;

	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[i];
		uint64_t want = c->next_seq;
		char why[200];
		if (it->bad) {
			rc = fault_at(fault, want, it->why);
			goto out;
		}
		if (it->seq != want) {
			snprintf(why, sizeof(why),
				 "gap or reordering: expected seq %llu, found seq %llu",
				 (unsigned long long)want, (unsigned long long)it->seq);
			rc = fault_at(fault, want, why);
			goto out;
		}
		if (CRYPTO_memcmp(it->prev, c->prev, 32) != 0) {
			/* Usually the entry before was altered: name it, say both. */
			if (want == 0)
				rc =
				    fault_at(fault, 0,
					     "bad hash link: the first entry's prev must be zeros");
			else {
				snprintf(
				    why, sizeof(why),
				    "bad hash link: entry %llu does not hash to the prev recorded "
				    "by entry %llu (one of them was altered)",
				    (unsigned long long)(want - 1), (unsigned long long)want);
				rc = fault_at(fault, want - 1, why);
			}
			goto out;
		}
		/*
		 * The append rewrites the frontier's levels 0 to L (L: the
		 * trailing one bits of its size): those are kept, so that an
		 * on_node that fails - a store error as much as a mismatch -
		 * leaves the chain exactly at this entry.  A chain left with
		 * its tree one entry ahead would take this entry twice when
		 * fed again, and then find every later node "not matching".
		 */
		struct jg_merkle_node done[JG_MERKLE_MAX_LEVELS];
		uint8_t kept[JG_MERKLE_MAX_LEVELS][32];
		uint64_t size = c->tree.size;
		size_t ndone = 0, nkept = 1;
		while (nkept < JG_MERKLE_MAX_LEVELS && (size >> (nkept - 1) & 1) != 0)
			nkept++;
		memcpy(kept, c->tree.hash, nkept * 32);
		if (jg_merkle_frontier_append(&c->tree, it->leaf, done, &ndone) != 0) {
			rc = JG_ECRYPTO;
			goto out;
		}
		for (size_t k = 0; on_node != NULL && k < ndone; k++) {
			if (done[k].level == 0)
				continue;
			if ((rc = on_node(ctx, &done[k])) != 0) {
				memcpy(c->tree.hash, kept, nkept * 32);
				c->tree.size = size;
				if (rc == JG_EVERIFY)
					fault_at(fault, want,
						 "stored tree node does not match the entries");
				goto out;
			}
		}
		memcpy(c->prev, it->leaf, 32);
		if (leaf_hashes)
			memcpy(leaf_hashes + 32 * i, it->leaf, 32);
		c->next_seq++;
	}
out:
	free(items);
	return rc;
}
