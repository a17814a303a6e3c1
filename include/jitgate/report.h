/*
 * report.h - access reviews: what each grant of a period was, computed from
 * the audit log (docs/api.md, "Access reviews").
 *
 * The tables are not integrity-protected; the log is.  So a report is built
 * from entries alone: a scanner is fed entries in log order and keeps one
 * small record per request created in the period [from, to) (for one
 * service or all), then renders those that became grants.  The same
 * scanner serves the server (jg_report_access: a verified read of the
 * store) and `jitgate report access --file` (the entries of a verified
 * export), so both print the same report.
 *
 * Entry types are plugged in by name (report.c, the table `handlers`):
 * today's request.created, request.approved, request.denied/cancelled/
 * expired, grant.expired, grant.revoked, grant.reviewed, token.issued,
 * guard.refused and the guarded actions (logs.read, ..., with "pii": true
 * under read-pii); and those of issue 19's other items: request.approved
 * with scheduled: true (a grant not started yet), grant.activated and
 * grant.not_activated (a scheduled start), grant.extension_requested, an
 * extension's request.approved (with grant) and grant.extended (the
 * extension_requests with their approvers, the "extended" flag),
 * grant.receipt (when present, its data is the grant's summary).
 *
 * Bounds: at most JG_REPORT_MAX_GRANTS requests tracked and
 * JG_REPORT_MAX_SCAN entries scanned per report (JG_ETOOBIG beyond: a
 * shorter period or one service); entries are read in chunks, never the
 * whole log at once.
 */
#ifndef JITGATE_REPORT_H
#define JITGATE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jitgate/audit.h"
#include "jitgate/store.h"

#define JG_REPORT_MAX_GRANTS 10000
#define JG_REPORT_MAX_SCAN   2000000
/* the receipts kept for a report, bytes of their data in total */
#define JG_REPORT_MAX_RECEIPT_BYTES (16u << 20)

/* What a report covers. */
struct jg_report_query {
	int64_t from;	     /* Unix seconds, inclusive */
	int64_t to;	     /* Unix seconds, exclusive; from < to */
	const char *service; /* one service; NULL: every service */
};

struct jg_report_scan;

/*
 * A scanner for q (q->service is copied).  *out is the caller's
 * (jg_report_scan_free).  0, JG_EINVAL (from >= to, a bad service) or
 * JG_ENOMEM.
 */
int jg_report_scan_new(const struct jg_report_query *q, struct jg_report_scan **out);
/*
 * Feeds one entry (parsed, borrowed) in log order.  *done becomes true when
 * nothing later can change the report: the entry is at or after `to` and
 * no tracked request is still pending, active or an unreviewed break-glass
 * grant.  0, JG_ETOOBIG (too many requests, or too much receipt data, in
 * the period) or JG_ENOMEM.
 */
int jg_report_scan_feed(struct jg_report_scan *s, const json_t *entry, bool *done);
/*
 * The report: {"from","to","service","grants":[...],"scanned":{"first_seq",
 * "last_seq","entries"}} (docs/api.md shows a grant); *out is the caller's.
 * 0 or JG_ENOMEM.
 */
int jg_report_scan_finish(struct jg_report_scan *s, json_t **out);
/* NULL is a no-op. */
void jg_report_scan_free(struct jg_report_scan *s);

/*
 * The report of q from the log of store, read verified: the entries from
 * the first whose ts is at or after q->from (a binary search on ts, which
 * writers keep non-decreasing; the entry before it is read and proven too,
 * and its ts must be before q->from, else JG_EVERIFY: the stored ts the
 * search read were edited; a ts stepping back among the entries read, as
 * in a log from before 0015, makes the whole log be read) are read in chunks, each checked for form
 * and linked to the one before by its prev hash, up to at most the end of
 * the log as verified now (jg_audit_check); the last one read is then
 * proven into that verified tree (jg_audit_anchor_check), which proves
 * every one before it through the links.  Returns 0 with *out
 * (jg_report_scan_finish's shape, plus "verified_size"); JG_EINVAL,
 * JG_ETOOBIG (over the bounds above), JG_EVERIFY (the log does not verify:
 * no report), JG_ESTORE or JG_ENOMEM.
 */
int jg_report_access(struct jg_audit *a, struct jg_store *store, const struct jg_report_query *q,
		     json_t **out) __attribute__((warn_unused_result));

/*
 * The report as CSV (RFC 4180, CRLF, a header line, one line per grant;
 * docs/api.md lists the columns).  A cell that begins with =, +, -, @, tab
 * or CR is prefixed with ' so a spreadsheet shows it as text.  *out
 * (NUL-terminated, *len bytes) is the caller's.  0 or JG_ENOMEM.
 */
int jg_report_csv(const json_t *report, char **out, size_t *len);

/*
 * A text rendering for the command line (one block per grant).  *out is
 * the caller's.  0 or JG_ENOMEM.
 */
int jg_report_text(const json_t *report, char **out);

#endif
