#!/usr/bin/env bash
# bench/audit.sh - the audit log against the limits it is built on, measured
# in the same run on the same disk and CPU:
#   durable appends/s (1 and 32 clients)  vs  raw SQLite durable single-row commits/s
#   offline verification (jitgate audit verify) of BENCH_AUDIT_ENTRIES entries:
#     integrity part (hash, tree, signature) in bytes/s  vs  openssl speed sha256
#     full verification (plus parsing and canonical form) in entries/s and seconds
#   serve's start-up check of the log (from the verified state) at BENCH_AUDIT_ENTRIES and at a
#     tenth of it, in the same run: the ratio is what history costs a start (goal <= 1.2), next
#     to the whole-log verification it replaced
#   the newest 1,000 entries read as tlog-tiles (bundles, level-0 tiles, the partial tiles above)
#     vs as an export of the same range, server side, reads/s (same log, same run)
#   the rolling verifier at audit.verify_budget BENCH_AUDIT_BUDGET (default 10 %) for
#     BENCH_SECONDS on that log: entries/s and its CPU share (its own and the process's)
# Run by bench/run.sh (environment in bench/lib.sh).  BENCH_AUDIT_ENTRIES
# defaults to 1000000 (the documented goal: under 5 s on both cores).
set -euo pipefail
. "$REPO/bench/lib.sh"

AB="$REPO/build/bench/audit_bench"
[ -x "$AB" ] || bench_die "$AB is missing: run 'make build/bench/audit_bench'"
n=${BENCH_AUDIT_ENTRIES:-1000000}
secs=${BENCH_SECONDS}
dir="$BENCH_TMP/audit"
mkdir -p "$dir"
cp -r "$BENCH_TMP/tls" "$dir/tls"
cat >"$dir/jitgate.yaml" <<YAML
public_url: "https://127.0.0.1:1"
log_level: warn
tls: {cert_file: tls/cert.pem, key_file: tls/key.pem}
database: {url: "sqlite://jitgate.db"}
migrations_dir: "$REPO/migrations"
key_dir: keys
oidc: {issuer: "http://127.0.0.1:9", client_id: jitgate, allowed_clients: [jitgate]}
YAML
"$JG_BIN" migrate -c "$dir/jitgate.yaml" >/dev/null
vkey=$("$JG_BIN" keys generate -c "$dir/jitgate.yaml" | awk '/^checkpoint/ {print $NF}')

val() { awk -v k="$1" '$1 == k {print $2}'; }

bench_log "audit: raw SQLite durable commits (${secs}s)"
raw=$("$AB" raw "$dir" "$secs" | val raw_commits_per_s)
bench_log "audit: durable appends, 1 client (${secs}s)"
a1=$("$AB" append "$dir" 1 "$secs" | val appends_per_s_1)
bench_log "audit: durable appends, 32 clients (${secs}s)"
a32=$("$AB" append "$dir" 32 "$secs" | val appends_per_s_32)

bench_log "audit: filling a fresh log with $n entries"
rm -f "$dir"/jitgate.db*
"$JG_BIN" migrate -c "$dir/jitgate.yaml" >/dev/null
"$AB" fill "$dir" "$n" >/dev/null
"$JG_BIN" audit export -c "$dir/jitgate.yaml" -o "$dir/export.jsonl"
bytes=$(stat -c %s "$dir/export.jsonl")
entries=$(($(wc -l <"$dir/export.jsonl") - 2))

bench_log "audit: start-up check at $n entries"
big=$("$AB" start "$dir")
[ "$(echo "$big" | val start_from_state)" = 1 ] || bench_die "the start did not use the verified state"
bench_log "audit: start-up check at $((n / 10)) entries"
small_dir="$BENCH_TMP/audit-small"
rm -rf "$small_dir"
mkdir -p "$small_dir"
cp -r "$dir/keys" "$dir/tls" "$dir/jitgate.yaml" "$small_dir/" # paths in it are relative to it
"$JG_BIN" migrate -c "$small_dir/jitgate.yaml" >/dev/null
"$AB" fill "$small_dir" "$((n / 10))" >/dev/null
small=$("$AB" start "$small_dir")
rm -rf "$small_dir"

bench_log "audit: the newest 1,000 entries as tiles and as an export (${secs}s each)"
tl=$("$AB" tiles "$dir" "$secs")
budget=${BENCH_AUDIT_BUDGET:-10}
bench_log "audit: the rolling verifier at ${budget} % of one core (${secs}s)"
sw=$("$AB" sweep "$dir" "$budget" "$secs")

bench_log "audit: openssl speed sha256 (256-byte blocks, one core)"
sha=$(openssl speed -seconds 3 -bytes 256 sha256 2>/dev/null | awk '/^sha256/ {v=$NF; sub(/k$/, "", v); print v * 1000}')
integ=$("$AB" integrity "$dir/export.jsonl" "$vkey" | val integrity_bytes_per_s)
start=$(date +%s.%N)
"$JG_BIN" audit verify "$dir/export.jsonl" --key "$vkey" >/dev/null || bench_die "the export did not verify"
took=$(echo "$(date +%s.%N) - $start" | bc -l)

mkdir -p "$BENCH_OUT"
{
  printf '\naudit log (%s entries, %s MB export)\n' "$entries" "$((bytes / 1000000))"
  printf '%-44s %14s %14s %8s\n' measure value reference ratio
  printf '%-44s %14.0f %14.0f %8.2f\n' "durable appends/s, 1 client" "$a1" "$raw" "$(echo "$a1 / $raw" | bc -l)"
  printf '%-44s %14.0f %14.0f %8.2f\n' "durable appends/s, 32 clients" "$a32" "$raw" "$(echo "$a32 / $raw" | bc -l)"
  printf '%-44s %14.0f %14.0f %8.2f\n' "verify integrity MB/s (vs sha256 256B)" "$(echo "$integ / 1000000" | bc -l)" "$(echo "$sha / 1000000" | bc -l)" "$(echo "$integ / $sha" | bc -l)"
  printf '%-44s %14.0f %14s %8s\n' "verify full entries/s" "$(echo "$entries / $took" | bc -l)" "-" "-"
  printf '%-44s %14.2f %14s %8s\n' "verify full seconds for all entries" "$took" "5.00 goal" "-"
  sb=$(echo "$big" | val start_seconds); ss=$(echo "$small" | val start_seconds)
  printf '%-44s %14.5f %14.5f %8.2f\n' "start check s (best of 5), $n vs $((n / 10))" "$sb" "$ss" "$(echo "$sb / $ss" | bc -l)"
  printf '%-44s %14.4f %14.4f %8.2f\n' "whole-log check s (replaced at start)" "$(echo "$big" | val whole_log_seconds)" "$(echo "$small" | val whole_log_seconds)" "$(echo "$(echo "$big" | val whole_log_seconds) / $(echo "$small" | val whole_log_seconds)" | bc -l)"
  tr=$(echo "$tl" | val tiles_reads_per_s); er=$(echo "$tl" | val export_reads_per_s)
  printf '%-44s %14.1f %14.1f %8.2f\n' "newest 1,000 entries reads/s: tiles vs export" "$tr" "$er" "$(echo "$tr / $er" | bc -l)"
  printf '%-44s %14d %14d %8.2f\n' "  bytes per read: tiles vs export" "$(echo "$tl" | val tiles_bytes)" "$(echo "$tl" | val export_bytes)" "$(echo "$(echo "$tl" | val tiles_bytes) / $(echo "$tl" | val export_bytes)" | bc -l)"
  sr=$(echo "$sw" | val sweep_entries_per_s)
  printf '%-44s %14.0f %14s %8s\n' "rolling verifier entries/s at ${budget} %" "$sr" "-" "-"
  printf '%-44s %14.3f %14.3f %8.2f\n' "rolling verifier CPU share (thread; budget)" "$(echo "$sw" | val sweep_cpu_share)" "$(echo "$budget / 100" | bc -l)" "$(echo "$(echo "$sw" | val sweep_cpu_share) * 100 / $budget" | bc -l)"
  printf '%-44s %14.3f %14.3f %8.2f\n' "process CPU share while sweeping (budget)" "$(echo "$sw" | val sweep_process_cpu_share)" "$(echo "$budget / 100" | bc -l)" "$(echo "$(echo "$sw" | val sweep_process_cpu_share) * 100 / $budget" | bc -l)"
  printf '%-44s %14.1f %14s %8s\n' "detection window s at ${budget} % ($entries entries)" "$(echo "$sw" | val sweep_window_seconds)" "-" "-"
  echo "(reference: raw SQLite WAL synchronous=FULL single-row commits/s; openssl speed sha256 bytes/s;"
  echo " start check: the same check on a log of a tenth the size, filled in the same run; goal ratio <= 1.2)"
} | tee "$BENCH_OUT/audit.tsv"
