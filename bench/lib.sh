# shellcheck shell=bash
# bench/lib.sh - helpers shared by the benchmark scripts (sourced, not run).
#
# bench/run.sh sets up what every section shares and exports:
#   REPO           the repository root (absolute)
#   BENCH_TMP      the run's temporary directory (removed at exit)
#   BENCH_SECONDS  duration of each measured wrk run (default 10)
#   BENCH_WARMUP   duration of the unmeasured warm-up run (default 1; 0 = none)
#   BENCH_THREADS / BENCH_CONNECTIONS   wrk -t / -c (default 1 / 32)
#   BENCH_OUT      directory for machine-readable results (default bench/out)
#   TLS_CERT / TLS_KEY                  a self-signed EC P-256 pair in BENCH_TMP
#   JG_BIN, JG_CONFIG, JG_LOG, JG_URL   the jitgate under test, already serving
# A section script sources this file, starts the reference it compares
# against (registering its pid with bench_track so the run's EXIT trap stops
# it), measures with bench_wrk, and prints its table with bench_table.

# wrk exits 0 on SIGINT, so a script would carry on after Ctrl-C without these.
trap 'exit 130' INT
trap 'exit 143' TERM

bench_log() { printf 'bench: %s\n' "$*" >&2; }
bench_die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# Records a pid started by the benchmark; run.sh's EXIT trap stops exactly these.
bench_track() { echo "$1" >>"$BENCH_TMP/pids"; }
# Forgets a pid the section has stopped and waited for itself, so that the EXIT trap never
# signals a later process given the same number.
bench_untrack() { sed -i "/^$1\$/d" "$BENCH_TMP/pids"; }

# Prints a loopback TCP port nobody listens on (checked with ss; the caller
# starts its server right away, and a clash shows up as a start failure).
bench_free_port() {
  local used port _
  used=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! grep -qx "$port" <<<"$used" && ! grep -qx "$port" "$BENCH_TMP/ports" 2>/dev/null; then
      echo "$port" >>"$BENCH_TMP/ports"
      echo "$port"
      return 0
    fi
  done
  bench_die "no free loopback port found"
}

# bench_wait_https URL PID NAME: waits (up to 15 s) until URL answers 2xx;
# returns 1 at once if the process PID has exited, or at the deadline.
bench_wait_https() {
  local url=$1 pid=$2 name=$3 _
  for _ in $(seq 1 150); do
    if curl -ksf -o /dev/null --max-time 2 "$url"; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      bench_log "$name exited during start-up; its log:"
      return 1
    fi
    sleep 0.1
  done
  bench_log "$name did not answer $url within 15 s; its log:"
  return 1
}

# bench_wrk NAME URL [extra wrk options...]: a warm-up run, then BENCH_RUNS (3) measured
# runs, of which the median by req/s is kept.  Appends one tab-separated row to
# $BENCH_TMP/results:
#   name  requests/s  p50_ms  p99_ms  requests  errors
# where errors = connect + read + write + timeout + non-2xx/3xx replies.
bench_wrk() {
  local name=$1 url=$2 out line
  shift 2
  if [ "${BENCH_WARMUP:-1}" != 0 ]; then
    wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"${BENCH_WARMUP}s" "$@" "$url" >/dev/null 2>&1 || true
  fi
  local runs=${BENCH_RUNS:-3} i rows
  rows=$(mktemp "$BENCH_TMP/runs.XXXXXX")
  bench_log "measuring $name: $runs x wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d${BENCH_SECONDS}s --latency $url"
  for ((i = 1; i <= runs; i++)); do
    out=$(wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"${BENCH_SECONDS}s" --latency \
      -s "$REPO/bench/wrk-report.lua" "$@" "$url" 2>&1) || bench_die "wrk failed on $url: $out"
    printf '%s\n' "$out" >"$BENCH_TMP/wrk-${name//[^A-Za-z0-9_.-]/_}-$i.txt"
    line=$(grep '^JG_WRK ' <<<"$out") || bench_die "no summary in wrk's output for $name: $out"
    # JG_WRK requests duration_us p50_us p99_us errors
    awk -v name="$name" '{
        rps = $2 / ($3 / 1e6);
        printf "%s\t%.0f\t%.3f\t%.3f\t%d\t%d\n", name, rps, $4 / 1000, $5 / 1000, $2, $6
      }' <<<"$line" >>"$rows"
  done
  # the median run by throughput: this VM's neighbours move single runs by +-20 %
  sort -t$'\t' -k2,2n "$rows" | awk -v m=$(((runs + 1) / 2)) 'NR == m' >>"${BENCH_RESULTS:-$BENCH_TMP/results}"
  rm -f "$rows"
}

# bench_wrk_paired REF_NAME REF_URL NAME URL [extra wrk options for NAME...]: BENCH_RUNS (3)
# pairs of runs, the reference then NAME back to back, so that both meet the machine in the same
# state; appends to $BENCH_TMP/results the two rows of the pair whose ratio is the median.
bench_wrk_paired() {
  local ref=$1 ref_url=$2 name=$3 url=$4 runs=${BENCH_RUNS:-3} i pairs
  shift 4
  pairs=$(mktemp "$BENCH_TMP/pairs.XXXXXX")
  for ((i = 1; i <= runs; i++)); do
    BENCH_RESULTS=$pairs BENCH_RUNS=1 bench_wrk "$ref" "$ref_url"
    BENCH_RESULTS=$pairs BENCH_RUNS=1 bench_wrk "$name" "$url" "$@"
  done
  bench_pairs_median "$pairs"
  rm -f "$pairs"
}

# bench_pairs_median FILE: FILE holds rows of bench_wrk in pairs (the reference, then the measured
# one); appends to $BENCH_TMP/results the two rows of the pair whose ratio is the median.
bench_pairs_median() {
  local pairs=$1 runs
  runs=$(($(wc -l <"$pairs") / 2))
  # one line per pair: ratio, then both rows (tab-separated fields joined by a unit separator)
  awk -F'\t' 'NR % 2 == 1 { ref = $0; rps = $2; next }
      { r = rps > 0 ? $2 / rps : 0; gsub(/\t/, "\037", ref); row = $0; gsub(/\t/, "\037", row)
        printf "%.6f\t%s\t%s\n", r, ref, row }' "$pairs" |
    sort -t$'\t' -k1,1g | awk -F'\t' -v m=$(((runs + 1) / 2)) 'NR == m {
      gsub(/\037/, "\t", $2); gsub(/\037/, "\t", $3); print $2; print $3 }' >>"$BENCH_TMP/results"
}

# bench_wrk_together NAME URL... -- [extra wrk options]: one wrk per URL, all at once (each with
# BENCH_CONNECTIONS connections, for BENCH_SECONDS), BENCH_RUNS (3) times after a warm-up; one row
# per run, the median by summed req/s kept, appended to $BENCH_TMP/results: the requests of all,
# over the longest duration; p50 and p99 the worst of the wrks; errors summed.  For several
# replicas serving at once.
bench_wrk_together() {
  local name=$1 runs=${BENCH_RUNS:-3} i j rows urls=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do urls+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  rows=$(mktemp "$BENCH_TMP/together.XXXXXX")
  bench_log "measuring $name: $runs x ${#urls[@]} wrk at once, each -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d${BENCH_SECONDS}s"
  for ((i = 0; i <= runs; i++)); do
    local pids=() outs=()
    for ((j = 0; j < ${#urls[@]}; j++)); do
      outs[j]="$BENCH_TMP/wrk-${name//[^A-Za-z0-9_.-]/_}-$i-$j.txt"
      # run 0 is the warm-up
      wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"$([ $i = 0 ] && echo "${BENCH_WARMUP:-1}" || echo "$BENCH_SECONDS")s" \
        --latency -s "$REPO/bench/wrk-report.lua" "$@" "${urls[j]}" >"${outs[j]}" 2>&1 &
      pids[j]=$!
    done
    for ((j = 0; j < ${#urls[@]}; j++)); do
      wait "${pids[j]}" || bench_die "wrk failed on ${urls[j]}: $(cat "${outs[j]}")"
    done
    [ $i = 0 ] && continue
    grep -h '^JG_WRK ' "${outs[@]}" | awk -v name="$name" -v n=${#urls[@]} '
      { req += $2; if ($3 > dur) dur = $3; if ($4 > p50) p50 = $4; if ($5 > p99) p99 = $5; err += $6; got++ }
      END {
        if (got != n) exit 1
        printf "%s\t%.0f\t%.3f\t%.3f\t%d\t%d\n", name, req / (dur / 1e6), p50 / 1000, p99 / 1000, req, err
      }' >>"$rows" || bench_die "a wrk of $name printed no summary"
  done
  sort -t$'\t' -k2,2n "$rows" | awk -v m=$(((runs + 1) / 2)) 'NR == m' >>"$BENCH_TMP/results"
  rm -f "$rows"
}

# bench_table TITLE REFERENCE_NAME SECTION NAME...: prints the rows measured
# under the given names, each with its throughput and p99 relative to
# REFERENCE_NAME, and writes them to $BENCH_OUT/SECTION.tsv.
bench_table() {
  local title=$1 ref=$2 section=$3
  shift 3
  local names
  names=$(IFS='|'; echo "$*")
  mkdir -p "$BENCH_OUT"
  awk -F'\t' -v ref="$ref" -v names="$names" -v title="$title" -v tsv="$BENCH_OUT/$section.tsv" '
    { rps[$1] = $2; p50[$1] = $3; p99[$1] = $4; n[$1] = $5; err[$1] = $6 }
    END {
      split(names, order, "|")
      printf "\n%s\n", title
      printf "%-28s %12s %10s %10s %8s %12s %12s\n", "name", "req/s", "p50 ms", "p99 ms", "errors", "req/s ratio", "p99 ratio"
      print "name\treq_per_s\tp50_ms\tp99_ms\terrors\trps_ratio\tp99_ratio" > tsv
      for (i = 1; i in order; i++) {
        k = order[i]
        if (!(k in rps)) continue
        rr = (ref in rps && rps[ref] > 0) ? sprintf("%.3f", rps[k] / rps[ref]) : "-"
        pr = (ref in p99 && p99[ref] > 0) ? sprintf("%.2f", p99[k] / p99[ref]) : "-"
        printf "%-28s %12d %10.3f %10.3f %8d %12s %12s\n", k, rps[k], p50[k], p99[k], err[k], rr, pr
        printf "%s\t%d\t%.3f\t%.3f\t%d\t%s\t%s\n", k, rps[k], p50[k], p99[k], err[k], rr, pr > tsv
      }
      printf "(ratios are relative to %s; req/s higher is better, p99 lower is better)\n", ref
    }' "$BENCH_TMP/results"
}

# bench_pg_durable: in a script run under tests/lib/pg-cluster.sh (JG_PG_BASE set), makes its
# primary durable for measuring - fsync back on (the test clusters run without it), checked with
# synchronous_commit - and lets the role jitgate create jitgate_serving at migrate (CREATEROLE): the
# PostgreSQL sections serve as the owner role.
bench_pg_durable() {
  local pgc="$REPO/tests/lib/pg-cluster.sh" i
  "$pgc" sql "$JG_PG_BASE" primary "ALTER SYSTEM SET fsync = on" >/dev/null
  "$pgc" sql "$JG_PG_BASE" primary "SELECT pg_reload_conf()" >/dev/null
  for ((i = 0; i < 50; i++)); do
    [ "$("$pgc" sql "$JG_PG_BASE" primary 'SHOW fsync')" = on ] && break
    sleep 0.1
  done
  [ "$("$pgc" sql "$JG_PG_BASE" primary 'SHOW fsync')" = on ] || bench_die "PostgreSQL's fsync did not come on"
  [ "$("$pgc" sql "$JG_PG_BASE" primary 'SHOW synchronous_commit')" = on ] ||
    bench_die "PostgreSQL's synchronous_commit is not on"
  "$pgc" sql "$JG_PG_BASE" primary "ALTER ROLE jitgate CREATEROLE" >/dev/null
}
