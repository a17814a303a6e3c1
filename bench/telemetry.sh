#!/usr/bin/env bash
# bench/telemetry.sh - the debug data plane against the limits it is built on,
# measured in the same run on the same disk and CPU:
#   ingest log records/s and spans/s through POST /v1/ingest/logs|traces (HTTPS,
#     OTLP/HTTP JSON batches of BENCH_TEL_BATCH records, BENCH_TEL_SENDERS
#     concurrent senders: wrk with bench/wrk-ingest.lua)
#     vs  the same rows inserted into a fresh SQLite file with the telemetry
#         schema (FTS5 tables included), BENCH_TEL_BATCH rows per durable
#         transaction, one writer (telemetry_bench raw)
#   log search GET /v1/services/{svc}/logs?q=WORD&limit=50 over
#     BENCH_LOG_RECORDS records (p50/p99, wrk with one connection, a read-logs
#     token without read-pii: the redacted index, redacted records)
#     vs  jitgate's own reader (jg_telemetry_logs_query) in-process on the same
#         file (telemetry_bench search): what HTTPS, the guard and the audit
#         entry add; and for scale raw-SQL baselines written for the benchmark
#         (records driving the join, FTS5 driving it, FTS5 alone)
# The records to search are loaded through jitgate's own conversion and
# storage (telemetry_bench fill), so both FTS5 indexes hold exactly what ingest
# would have written.  Run by bench/run.sh (environment in bench/lib.sh).
#   BENCH_LOG_RECORDS (1000000), BENCH_TEL_BATCH (500), BENCH_TEL_SENDERS (8)
set -euo pipefail
. "$REPO/bench/lib.sh"

TB="$REPO/build/bench/telemetry_bench"
GS="$REPO/build/bench/guard_setup"
for b in "$TB" "$GS"; do
  [ -x "$b" ] || bench_die "$b is missing: run 'make build/bench/$(basename "$b")'"
done
records=${BENCH_LOG_RECORDS:-1000000}
batch=${BENCH_TEL_BATCH:-500}
senders=${BENCH_TEL_SENDERS:-8}
secs=$BENCH_SECONDS
for v in "$records" "$batch" "$senders"; do
  case $v in '' | *[!0-9]* | 0) bench_die "BENCH_LOG_RECORDS, BENCH_TEL_BATCH and BENCH_TEL_SENDERS must be positive integers" ;; esac
done
dir="$BENCH_TMP/telemetry"
mkdir -p "$dir"
tdb="$BENCH_TMP/telemetry.db" # the default telemetry.database of run.sh's configuration
[ -f "$tdb" ] || bench_die "$tdb is missing: is telemetry.database set in $JG_CONFIG?"

val() { awk -v k="$1" '$1 == k {print $2}'; }
# row NAME COLUMN: a column of bench_wrk's row (2 req/s, 3 p50 ms, 4 p99 ms, 6 errors)
row() { awk -F'\t' -v n="$1" -v c="$2" '$1 == n {v = $c} END {print v}' "$BENCH_TMP/results"; }

# ---- ingest ------------------------------------------------------------------------
"$JG_BIN" service add bench-ingest --owners bench -c "$JG_CONFIG" >"$dir/setup.log" 2>&1 ||
  bench_die "jitgate service add bench-ingest failed: $(cat "$dir/setup.log")"
key=$("$JG_BIN" ingest-key create bench-ingest -c "$JG_CONFIG" 2>"$dir/setup.log") ||
  bench_die "jitgate ingest-key create failed: $(cat "$dir/setup.log")"
"$TB" body logs bench-ingest "$batch" "$dir/logs.json"
"$TB" body spans bench-ingest "$batch" "$dir/spans.json"
for kind in logs spans; do
  path=$([ $kind = logs ] && echo logs || echo traces)
  # one request first, so a refusal shows its reason instead of a wrk error count
  sample=$(sed 's/@@@@@@@@@@@@@@@@/0123456789abcdef/g' "$dir/$kind.json")
  code=$(curl -ks -o "$dir/reply.json" -w '%{http_code}' -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' --data-binary @- "$JG_URL/v1/ingest/$path" <<<"$sample")
  [ "$code" = 200 ] || bench_die "POST /v1/ingest/$path answered $code: $(cat "$dir/reply.json")"
  # wrk takes the last -s: wrk-ingest.lua (which includes wrk-report.lua's summary)
  BENCH_BODY="$dir/$kind.json" BENCH_CONNECTIONS=$senders \
    BENCH_RUNS=1 bench_wrk "ingest $kind" "$JG_URL/v1/ingest/$path" -H "Authorization: Bearer $key" \
    --timeout 30s -s "$REPO/bench/wrk-ingest.lua"
done
bench_log "telemetry: raw SQLite, $batch log records per durable transaction (${secs}s)"
raw_logs=$("$TB" raw logs "$JG_CONFIG" "$dir/raw.db" "$batch" "$secs" | val raw_logs_per_s)
bench_log "telemetry: raw SQLite, $batch spans per durable transaction (${secs}s)"
raw_spans=$("$TB" raw spans "$JG_CONFIG" "$dir/raw.db" "$batch" "$secs" | val raw_spans_per_s)
rm -f "$dir"/raw.db*

# ---- search ----------------------------------------------------------------------------
bench_log "telemetry: loading $records log records through jitgate's telemetry functions"
start=$(date +%s.%N)
fill_rate=$("$TB" fill "$JG_CONFIG" bench-logs "$records" | val fill_records_per_s)
fill_secs=$(echo "$(date +%s.%N) - $start" | bc -l)
echo "$records" >"$BENCH_TMP/bench-logs.records" # bench/web_logs.sh searches the same records
token=$("$GS" "$JG_CONFIG" bench-logs read-logs)
declare -A matches reader50 reader99 sql50 first50 fts50
for word in timeout deadlock; do
  url="$JG_URL/v1/services/bench-logs/logs?q=$word&limit=50"
  code=$(curl -ks -o "$dir/reply.json" -w '%{http_code}' -H "Authorization: Bearer $token" "$url")
  [ "$code" = 200 ] || bench_die "GET $url answered $code: $(cat "$dir/reply.json")"
  BENCH_RUNS=1 BENCH_CONNECTIONS=1 bench_wrk "search $word" "$url" -H "Authorization: Bearer $token"
  bench_log "telemetry: jitgate's reader in-process, then the raw-SQL baselines, on $tdb, q=$word ($(echo "$secs / 2" | bc -l | sed 's/0*$//;s/\.$//')s)"
  out=$("$TB" search "$JG_CONFIG" bench-logs "$word" "$(echo "$secs / 2" | bc -l)")
  matches[$word]=$(val matches <<<"$out")
  reader50[$word]=$(val reader_p50_ms <<<"$out")
  reader99[$word]=$(val reader_p99_ms <<<"$out")
  sql50[$word]=$(val sql_p50_ms <<<"$out")
  first50[$word]=$(val fts_first_p50_ms <<<"$out")
  fts50[$word]=$(val fts_p50_ms <<<"$out")
done

# ---- table -----------------------------------------------------------------------------
il=$(echo "$(row "ingest logs" 2) * $batch" | bc -l)
is=$(echo "$(row "ingest spans" 2) * $batch" | bc -l)
mkdir -p "$BENCH_OUT"
{
  printf '\ntelemetry: ingest (OTLP/HTTP JSON, %s records a request, %s senders, %ss) and log search over %s records\n' \
    "$batch" "$senders" "$secs" "$records"
  printf '%-44s %14s %14s %8s\n' measure value reference ratio
  printf '%-44s %14.0f %14.0f %8.2f\n' "ingest log records/s (HTTPS)" "$il" "$raw_logs" "$(echo "$il / $raw_logs" | bc -l)"
  printf '%-44s %14.0f %14.0f %8.2f\n' "ingest spans/s (HTTPS)" "$is" "$raw_spans" "$(echo "$is / $raw_spans" | bc -l)"
  for word in timeout deadlock; do
    p50=$(row "search $word" 3)
    p99=$(row "search $word" 4)
    printf '%-44s %14.2f %14.2f %8.2f\n' "search q=$word (${matches[$word]} hits) p50 ms" "$p50" "${reader50[$word]}" "$(echo "$p50 / ${reader50[$word]}" | bc -l)"
    printf '%-44s %14.2f %14.2f %8.2f\n' "search q=$word p99 ms" "$p99" "${reader99[$word]}" "$(echo "$p99 / ${reader99[$word]}" | bc -l)"
    printf '%-44s %14.2f %14s %8s\n' "  raw SQL, records driving the join, p50 ms" "${sql50[$word]}" "-" "-"
    printf '%-44s %14.2f %14s %8s\n' "  raw SQL, FTS5 driving the join, p50 ms" "${first50[$word]}" "-" "-"
    printf '%-44s %14.2f %14s %8s\n' "  FTS5 alone, newest 50 rowids, p50 ms" "${fts50[$word]}" "-" "-"
  done
  printf '%-44s %14.0f %14s %8s\n' "fill: records/s through the store functions" "$fill_rate" "-" "-"
  printf '%-44s %14.1f %14s %8s\n' "fill: seconds for all records" "$fill_secs" "-" "-"
  printf 'wrk errors: ingest logs %s, ingest spans %s, search timeout %s, search deadlock %s\n' \
    "$(row "ingest logs" 6)" "$(row "ingest spans" 6)" "$(row "search timeout" 6)" "$(row "search deadlock" 6)"
  echo "(references: raw SQLite WAL synchronous=FULL inserts of the same rows, same batch, one writer;"
  echo " jitgate's own reader (jg_telemetry_logs_query) run in-process on the same file, one reader."
  echo " Ingest ratio higher is better,"
  echo " search ratio lower is better)"
} | tee "$BENCH_OUT/telemetry.tsv"
