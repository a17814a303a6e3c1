#!/usr/bin/env bash
# bench/web_logs.sh - the web logs page against the API call behind it, on the
# same jitgate, the same records and the same query, in the same run (issue 20
# item 6: the page's p50 at most 2x the API's):
#   page  GET /debug/bench-logs/logs?grant=ID&q=WORD&limit=50 in a signed-in session
#         (cookie, Sec-Fetch-Site: same-origin): the session read, the grant
#         checked, the token kept for (session, grant) decrypted and its holder
#         re-qualified, jg_api_logs_read (the guard, the durable logs.read entry,
#         the read), and the HTML of 50 records
#   vs    GET /v1/services/bench-logs/logs?q=WORD&limit=50 with a read-logs token of the
#         same grant (the API call the page makes in-process), wrk with one connection
# Both without read-pii (the redacted index and records), BENCH_RUNS (3) pairs of
# runs, the API then the page back to back, each after a BENCH_WARMUP run; every
# pair is printed, and the pair whose p50 ratio is the median.  The page's first
# load (which mints the token it keeps, an audited token.issued) is a curl
# before any timing.  The records are those bench/telemetry.sh loaded when it ran
# before in the same run, else BENCH_LOG_RECORDS (1000000) loaded here the same
# way (telemetry_bench fill).  The session is opened by bench/web_session (a
# session row and its auth.login entry, as a completed sign-in writes them; no
# identity provider); the grant by bench/guard_setup.
# Run by bench/run.sh (environment in bench/lib.sh).
set -euo pipefail
. "$REPO/bench/lib.sh"

TB="$REPO/build/bench/telemetry_bench"
GS="$REPO/build/bench/guard_setup"
WS="$REPO/build/bench/web_session"
for b in "$TB" "$GS" "$WS"; do
  [ -x "$b" ] || bench_die "$b is missing: run 'make build/bench/$(basename "$b")'"
done
runs=${BENCH_RUNS:-3}
case $runs in '' | *[!0-9]* | 0) bench_die "BENCH_RUNS must be a positive integer" ;; esac
dir="$BENCH_TMP/web_logs"
mkdir -p "$dir"
marker="$BENCH_TMP/bench-logs.records"
if [ -f "$marker" ]; then
  records=$(cat "$marker")
  bench_log "web_logs: searching the $records records bench/telemetry.sh loaded"
else
  records=${BENCH_LOG_RECORDS:-1000000}
  case $records in '' | *[!0-9]* | 0) bench_die "BENCH_LOG_RECORDS must be a positive integer" ;; esac
  bench_log "web_logs: loading $records log records through jitgate's telemetry functions"
  "$TB" fill "$JG_CONFIG" bench-logs "$records" >"$dir/fill.log" ||
    bench_die "telemetry_bench fill failed: $(cat "$dir/fill.log")"
  echo "$records" >"$marker"
fi

# One grant of read-logs (no read-pii) to the user bench: its token for the API, and its id
# (the token's grant claim) in the page's URL, so that both read under the same grant.
token=$("$GS" "$JG_CONFIG" bench-logs read-logs)
payload=$(cut -d. -f2 <<<"$token" | tr '_-' '/+')
while [ $((${#payload} % 4)) -ne 0 ]; do payload+="="; done
grant=$(base64 -d <<<"$payload" | jq -r '.grant // empty') || true
[ -n "$grant" ] || bench_die "no grant claim in the token of bench/guard_setup"
cookie=$("$WS" "$JG_CONFIG" bench bench)
page_headers=(-H "Cookie: __Host-jitgate_session=$cookie" -H "Sec-Fetch-Site: same-origin")

# pair FILE: the four figures and the ratio of one pair of rows (API, page) of bench_wrk
pair() {
  awk -F'\t' 'NR % 2 == 1 { a50 = $3; a99 = $4; aerr = $6; next }
    { printf "%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\n", a50, a99, $3, $4, (a50 > 0 ? $3 / a50 : 0), aerr + $6 }' "$1"
}

mkdir -p "$BENCH_OUT"
tsv="$BENCH_OUT/web_logs.tsv"
printf 'word\tround\tapi_p50_ms\tapi_p99_ms\tpage_p50_ms\tpage_p99_ms\tp50_ratio\terrors\n' >"$tsv"
declare -A med
for word in timeout deadlock; do
  api="$JG_URL/v1/services/bench-logs/logs?q=$word&limit=50"
  page="$JG_URL/debug/bench-logs/logs?grant=$grant&q=$word&limit=50"
  code=$(curl -ks -o "$dir/api.json" -w '%{http_code}' -H "Authorization: Bearer $token" "$api")
  [ "$code" = 200 ] || bench_die "GET $api answered $code: $(cat "$dir/api.json")"
  # the first load mints and keeps the session's token; the second reads with the kept one
  for load in first second; do
    code=$(curl -ks -o "$dir/page.html" -w '%{http_code}' "${page_headers[@]}" "$page")
    [ "$code" = 200 ] || bench_die "the $load GET $page answered $code: $(sed 's/<[^>]*>/ /g' "$dir/page.html" | tr -s ' \n' ' ' | head -c 600)"
  done
  shown=$(grep -o '<li class="log">' "$dir/page.html" | wc -l)
  listed=$(jq '.logs | length' "$dir/api.json")
  grep -q 'data-pii="redacted"' "$dir/page.html" || bench_die "the page for q=$word is not marked redacted"
  grep -q "<code id=\"grant-id\">$grant</code>" "$dir/page.html" || bench_die "the page did not read under the grant $grant"
  [ "$shown" -eq "$listed" ] || bench_die "the page for q=$word shows $shown records, the API $listed"
  pairs="$dir/pairs-$word"
  : >"$pairs"
  for ((i = 1; i <= runs; i++)); do
    one="$dir/pair-$word-$i"
    : >"$one"
    BENCH_RESULTS=$one BENCH_RUNS=1 BENCH_CONNECTIONS=1 \
      bench_wrk "api $word" "$api" -H "Authorization: Bearer $token"
    BENCH_RESULTS=$one BENCH_RUNS=1 BENCH_CONNECTIONS=1 \
      bench_wrk "page $word" "$page" "${page_headers[@]}"
    pair "$one" | awk -v w="$word" -v i="$i" '{ print w "\t" i "\t" $0 }' >>"$pairs"
  done
  cat "$pairs" >>"$tsv"
  # the pair whose p50 ratio is the median
  med[$word]=$(sort -t$'\t' -k7,7g "$pairs" | awk -v m=$(((runs + 1) / 2)) 'NR == m')
done

# The page must have read with its kept token: one token.issued for the grant at its first load
# (and the API's from guard_setup), none after.
"$JG_BIN" audit export -c "$JG_CONFIG" -o "$dir/audit.jsonl" 2>"$dir/export.log" ||
  bench_die "jitgate audit export failed: $(cat "$dir/export.log")"
issued=$(jq -r --arg g "$grant" 'select(.type == "token.issued" and .data.grant == $g) | .seq' "$dir/audit.jsonl" | wc -l)

{
  printf '\nweb_logs: the logs page against the API call behind it, q=WORD&limit=50 over %s records, one connection, %ss runs\n' \
    "$records" "$BENCH_SECONDS"
  printf '%-22s %11s %11s %12s %12s %10s %7s\n' "word, round" "API p50 ms" "API p99 ms" "page p50 ms" "page p99 ms" "p50 ratio" errors
  for word in timeout deadlock; do
    while IFS=$'\t' read -r w i a50 a99 p50 p99 r err; do
      printf '%-22s %11.2f %11.2f %12.2f %12.2f %10.2f %7d\n' "$w, $i" "$a50" "$a99" "$p50" "$p99" "$r" "$err"
    done <"$dir/pairs-$word"
    IFS=$'\t' read -r w i a50 a99 p50 p99 r err <<<"${med[$word]}"
    printf '%-22s %11.2f %11.2f %12.2f %12.2f %10.2f %7d  goal <= 2: %s\n' "$w, median pair" "$a50" "$a99" "$p50" "$p99" "$r" "$err" \
      "$(awk -v r="$r" 'BEGIN { print (r <= 2 ? "met" : "MISSED") }')"
  done
  printf 'tokens issued for the grant %s: %s (1 for the API, 1 at the page'"'"'s first load: %s)\n' "$grant" "$issued" \
    "$([ "$issued" -eq 2 ] && echo "every timed page load read with the kept token" || echo "NOT 2: the page minted again")"
  echo "(p50 ratio = page p50 / API p50, lower is better; the goal of issue 20 is at most 2;"
  echo " load average at the end: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPU(s))"
} | tee "$BENCH_OUT/web_logs.txt"
