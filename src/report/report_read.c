/*
 * report_read.c - the verified read of the log behind an access report
 * (jg_report_access in report.h).
 *
 * The report must rest on what the log proves, not on the tables nor on
 * stored bytes that might have been edited since they were verified.  So:
 * the verified chain is extended to the log's end now (jg_audit_check) and
 * its size N bounds the read; the first entry of the period is found by a
 * binary search on ts over [0, N) (writers keep ts non-decreasing, 0015).
 * The ts the search reads are not verified, so the read starts one entry
 * before its answer: that entry is proven with the rest and its ts must be
 * before the period (else an edited ts misled the search, JG_EVERIFY); and
 * a ts below the one before it (a log from before 0015, written by several
 * processes) voids the search: the whole log is read from seq 0 instead.
 * From there entries are read READ_CHUNK at a time, each checked for form
 * (jg_chain_entry_parse: canonical JSON, the fields, its seq) and its prev
 * compared with the leaf hash of the entry read before it; the scanner
 * says when nothing later matters.  Finally the last entry read is proven
 * into the verified tree (jg_audit_anchor_check: re-read, re-hashed, an
 * inclusion proof to the verified root).  The prev links then prove every
 * entry read before it: an entry edited after its verification breaks a
 * link or the proof, and the report is refused (JG_EVERIFY).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "jitgate/audit_chain.h"
#include "jitgate/error.h"
#include "jitgate/merkle.h"
#include "jitgate/report.h"

#define READ_CHUNK 512

struct reader {
	struct jg_report_scan *scan;
	uint64_t next;	  /* the seq expected next */
	uint8_t leaf[32]; /* the leaf hash of entry next - 1 (when have_leaf) */
	int have_leaf;
	int done;
	uint64_t scanned;
	int64_t from_ms;  /* the period's start */
	uint64_t before;  /* the entry before the search's answer (when has_before): not fed */
	int has_before;	  /* read after a search: ts must not step back */
	int64_t last_ts;  /* the ts of the entry read before (ms; when have_leaf) */
	int stepped_back; /* an entry's ts is below the one before it */
	int rc;
};

static int
on_entry(void *ctx, uint64_t seq, const void *bytes, size_t len)
{
	struct reader *r = ctx;
	uint8_t prev[32];
	uint64_t eseq;
	json_t *doc = NULL;
	char why[160];
	bool done = false;

	if (seq != r->next ||
	    jg_chain_entry_parse(bytes, len, &eseq, prev, &doc, why, sizeof(why)) != 0 ||
	    eseq != seq || (r->have_leaf && CRYPTO_memcmp(prev, r->leaf, 32) != 0)) {
		json_decref(doc);
		return r->rc = JG_EVERIFY;
	}
	if (jg_merkle_leaf_hash(bytes, len, r->leaf) != 0) {
		json_decref(doc);
		return r->rc = JG_ECRYPTO;
	}
	/* jg_chain_entry_parse checked the fields: ts is an integer */
	int64_t ts = json_integer_value(json_object_get(doc, "ts"));
	if (r->has_before && r->have_leaf && ts < r->last_ts)
		r->stepped_back = 1; /* the search's premise fails: jg_report_access reads from 0 */
	int first = !r->have_leaf;
	r->have_leaf = 1;
	r->last_ts = ts;
	r->next = seq + 1;
	if (first && r->has_before && seq == r->before) {
		/*
		 * The entry before the search's answer: proven by the links and the
		 * final anchor check like every entry read.  Its ts must be before
		 * the period, else stored ts the search read were not the verified
		 * ones (edited) and the period's first entries may be skipped.
		 */
		json_decref(doc);
		return ts < r->from_ms ? 0 : (r->rc = JG_EVERIFY);
	}
	if (r->stepped_back) {
		json_decref(doc);
		return 1; /* stops the read: the caller starts over from 0 */
	}
	if (++r->scanned > JG_REPORT_MAX_SCAN) {
		json_decref(doc);
		return r->rc = JG_ETOOBIG;
	}
	int rc = jg_report_scan_feed(r->scan, doc, &done);
	json_decref(doc);
	if (rc != 0)
		return r->rc = rc;
	if (done) {
		r->done = 1;
		return 1; /* stops the read: not an error */
	}
	return 0;
}

/* reads the ts of entry seq (milliseconds) */
struct ts_read {
	int64_t ts;
	int found;
};

static int
on_ts(void *ctx, uint64_t seq, const void *bytes, size_t len)
{
	struct ts_read *t = ctx;
	json_t *doc = json_loadb(bytes, len, 0, NULL);
	(void)seq;
	json_t *ts = json_object_get(doc, "ts");
	t->found = json_is_integer(ts);
	t->ts = json_integer_value(ts);
	json_decref(doc);
	return t->found ? 0 : JG_EVERIFY;
}

/* The first seq in [0, n) whose ts is at or after from_ms (n when none). */
static int
first_at(struct jg_store *store, uint64_t n, int64_t from_ms, uint64_t *out)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct ts_read t = {0};
		int rc = jg_audit_read_from(store, mid, 1, on_ts, &t);
		if (rc != 0 || !t.found)
			return rc != 0 ? rc : JG_EVERIFY;
		if (t.ts < from_ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	*out = lo;
	return 0;
}

/*
 * Reads the verified log from start (the entry before the search's answer
 * when has_before) into scan, up to verified.next_seq or the scanner's
 * done, and proves the last entry read into the verified tree.
 */
static int
read_verified(struct jg_store *store, const struct jg_chain *verified, struct jg_report_scan *scan,
	      int64_t from_ms, uint64_t start, int has_before, int *stepped_back)
{
	struct reader r = {.scan = scan,
			   .next = start,
			   .from_ms = from_ms,
			   .before = start,
			   .has_before = has_before};
	int rc = 0;

	*stepped_back = 0;
	while (!r.done && r.next < verified->next_seq) {
		uint64_t left = verified->next_seq - r.next, before = r.next;
		rc = jg_audit_read_from(store, r.next, left < READ_CHUNK ? left : READ_CHUNK,
					on_entry, &r);
		if (r.rc != 0)
			return r.rc;
		if (r.stepped_back) {
			*stepped_back = 1;
			return 0;
		}
		if (rc != 0 && !r.done)
			return rc;
		if (r.next == before) /* a row missing below the verified size */
			return JG_EVERIFY;
	}
	/* the last entry read, proven into the verified tree, proves the rest by their links */
	if (r.have_leaf && (rc = jg_audit_anchor_check(store, NULL, verified, r.next - 1, r.leaf,
						       NULL, NULL)) != 0)
		return rc == JG_EDENIED ? JG_EVERIFY : rc;
	return 0;
}

int
jg_report_access(struct jg_audit *a, struct jg_store *store, const struct jg_report_query *q,
		 json_t **out)
{
	struct jg_report_scan *scan = NULL;
	struct jg_chain verified;
	uint64_t start;
	int rc, stepped_back = 0;

	*out = NULL;
	if ((rc = jg_report_scan_new(q, &scan)) != 0)
		return rc;
	if ((rc = jg_audit_check(a, &verified)) != 0)
		goto out;
	if ((rc = first_at(store, verified.next_seq, q->from * 1000, &start)) != 0)
		goto out;
	/* from the entry before the answer, so that its ts < from is proven too */
	rc = read_verified(store, &verified, scan, q->from * 1000, start > 0 ? start - 1 : 0,
			   start > 0, &stepped_back);
	if (rc == 0 && stepped_back && start > 0) {
		/*
		 * A ts below the one before it: a log written before 0015 by several
		 * processes (docs/audit-format.md §6.1), on which a search on ts is
		 * unsound.  The whole log is read instead (JG_REPORT_MAX_SCAN bounds it).
		 */
		jg_report_scan_free(scan);
		scan = NULL;
		if ((rc = jg_report_scan_new(q, &scan)) != 0)
			goto out;
		rc = read_verified(store, &verified, scan, q->from * 1000, 0, 0, &stepped_back);
	}
	if (rc != 0)
		goto out;
	if ((rc = jg_report_scan_finish(scan, out)) == 0)
		json_object_set_new(*out, "verified_size",
				    json_integer((json_int_t)verified.next_seq));
out:
	jg_report_scan_free(scan);
	return rc;
}
