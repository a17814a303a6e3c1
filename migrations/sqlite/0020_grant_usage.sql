-- 0020_grant_usage.sql - per-grant counters of the audit log, kept by the
-- audit writer in the transaction of each entry that names a grant
-- (data.grant, else data.request), so that the grant.receipt written when
-- the grant ends reads one row instead of scanning the log
-- (docs/audit-format.md, "Access receipts").  audit_receipt.c owns the
-- table; the counters are a cache of what the log says, which
-- `jitgate audit receipt` recomputes from an export or an archive.
--
-- first_seq, last_seq: the first and the newest entry that named the grant;
-- entries: how many did (grant.receipt itself is not counted);
-- receipt_seq: the grant.receipt entry, once written (NULL before).

CREATE TABLE audit_grant_usage (
    grant_id        TEXT PRIMARY KEY,
    first_seq       INTEGER NOT NULL CHECK (first_seq >= 0),
    last_seq        INTEGER NOT NULL CHECK (last_seq >= first_seq),
    entries         INTEGER NOT NULL DEFAULT 0,
    tokens_issued   INTEGER NOT NULL DEFAULT 0,
    actions         INTEGER NOT NULL DEFAULT 0,
    log_queries     INTEGER NOT NULL DEFAULT 0,
    trace_reads     INTEGER NOT NULL DEFAULT 0,
    metric_reads    INTEGER NOT NULL DEFAULT 0,
    probes_deployed INTEGER NOT NULL DEFAULT 0,
    probe_calls     INTEGER NOT NULL DEFAULT 0,
    probe_events    INTEGER NOT NULL DEFAULT 0,
    pii_reads       INTEGER NOT NULL DEFAULT 0,
    refusals        INTEGER NOT NULL DEFAULT 0,
    receipt_seq     INTEGER CHECK (receipt_seq >= 0)
);
