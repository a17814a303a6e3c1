#!/usr/bin/env bash
# bench/guard_history.sh - guarded calls stay O(1) in the audit log's size (issue 18 item 3): the
# guarded GET of bench/guard.sh (GET /v1/services/bench-svc/probes with a capability token, over
# HTTPS keep-alive, wrk) against a jitgate whose log holds about 1,000 entries and against one whose
# log holds BENCH_GUARD_ENTRIES, in the same run, in pairs; the ratio of the pair with the median
# ratio is printed next to the goal (>= 0.9x).
#
# Both logs are filled through the writer's bulk path (build/bench/audit_bench fill: transactions of
# 20,000 jg_audit_tx_append, then a signed checkpoint, which writes the verified state), not over
# HTTP; before serving, `audit_bench state` checks that the start-up check starts from that state.
# Each pair measures the small log, then the large one, never both serving at once: an instance
# is started for its run and stopped after it, so that neither's background work (the rolling
# verifier, checkpoints) lands on the other's figure.  Every guarded call appends an entry, so the
# small log is made afresh (1,000 entries) before each of its runs; the large one keeps what its
# runs add (a few hundred thousand entries at most, beside millions).
#
# BENCH_GUARD_ENTRIES: the large log's entries.  The goal is stated at 10,000,000; the default is
# 1,000,000 to keep `make bench` short (11-24 s of filling here; 10 M took 3 minutes and 4.3 GB
# of disk, and its closing whole-log check about 40 s): BENCH_GUARD_ENTRIES=10000000 bench/run.sh guard_history.
# Run by bench/run.sh (environment in bench/lib.sh).
set -euo pipefail
. "$REPO/bench/lib.sh"

AB="$REPO/build/bench/audit_bench"
GS="$REPO/build/bench/guard_setup"
[ -x "$AB" ] || bench_die "$AB is missing: run 'make build/bench/audit_bench'"
[ -x "$GS" ] || bench_die "$GS is missing: run 'make build/bench/guard_setup'"
GOAL_ENTRIES=10000000
big_n=${BENCH_GUARD_ENTRIES:-1000000}
small_n=1000
case $big_n in '' | *[!0-9]*) bench_die "BENCH_GUARD_ENTRIES must be a whole number" ;; esac
[ "$big_n" -ge $((small_n * 10)) ] || bench_die "BENCH_GUARD_ENTRIES must be at least $((small_n * 10))"
runs=${BENCH_RUNS:-3}
base="$BENCH_TMP/guard_history"
mkdir -p "$base"

val() { awk -v k="$1" '$1 == k {print $2}'; }

# make_instance DIR: a jitgate configuration in DIR (the one of bench/run.sh on a port of its own,
# its SQLite database in DIR), migrated, with the keys in $base/keys.
make_instance() {
  local dir=$1 port
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -r "$BENCH_TMP/tls" "$BENCH_TMP/policies" "$dir/"
  [ ! -d "$base/keys" ] || cp -r "$base/keys" "$dir/keys"
  port=$(bench_free_port)
  sed -e "s|^listen: .*|listen: \"127.0.0.1:$port\"|" \
    -e "s|^public_url: .*|public_url: \"https://127.0.0.1:$port\"|" "$JG_CONFIG" >"$dir/jitgate.yaml"
  echo "https://127.0.0.1:$port" >"$dir/url"
  "$JG_BIN" migrate -c "$dir/jitgate.yaml" >"$dir/migrate.log" 2>&1 ||
    { cat "$dir/migrate.log" >&2; bench_die "jitgate migrate failed in $dir"; }
}

# fill DIR COUNT: COUNT entries through the writer's bulk path, then a checkpoint; checks that a
# start begins from the verified state it leaves.
fill() {
  local dir=$1 n=$2 state
  "$AB" fill "$dir" "$n" >"$dir/fill.log" 2>&1 || { cat "$dir/fill.log" >&2; bench_die "audit_bench fill failed"; }
  state=$("$AB" state "$dir") || bench_die "the start-up check failed on the filled log of $dir"
  [ "$(val start_from_state <<<"$state")" = 1 ] || bench_die "the start in $dir did not use the verified state"
  [ "$(val start_entries <<<"$state")" -ge "$n" ] || bench_die "the log of $dir holds fewer than $n entries"
}

# entries DIR: the log's size (the start-up check of a stopped instance).
entries() { "$AB" state "$1" | val start_entries; }

# serve DIR: starts jitgate on DIR and waits until /healthz answers; its pid into DIR/pid and the
# seconds from exec to the first answer into DIR/start_s.
serve() {
  local dir=$1 t0 pid
  t0=$(date +%s.%N)
  "$JG_BIN" serve -c "$dir/jitgate.yaml" 2>>"$dir/jitgate.log" &
  pid=$!
  bench_track "$pid"
  echo "$pid" >"$dir/pid"
  bench_wait_https "$(cat "$dir/url")/healthz" "$pid" "jitgate ($dir)" || { cat "$dir/jitgate.log" >&2; exit 1; }
  echo "$(date +%s.%N) - $t0" | bc -l >"$dir/start_s"
}

# stop DIR: stops the jitgate of DIR (SIGTERM) and waits for it.
stop() {
  local dir=$1 pid
  pid=$(cat "$dir/pid")
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  bench_untrack "$pid"
}

# One set of keys for every instance (generated once, copied).
make_instance "$base/keygen"
"$JG_BIN" keys generate -c "$base/keygen/jitgate.yaml" >"$base/keygen/keys.log" 2>&1 ||
  { cat "$base/keygen/keys.log" >&2; bench_die "jitgate keys generate failed"; }
mv "$base/keygen/keys" "$base/keys"
rm -rf "$base/keygen"

big="$base/big"
make_instance "$big"
bench_log "guard_history: filling a log of $big_n entries through the writer's bulk path"
t0=$(date +%s)
fill "$big" "$big_n"
bench_log "guard_history: filled in $(($(date +%s) - t0)) s; $(du -sh "$big" | cut -f1) on disk"
serve "$big"
big_token=$("$GS" "$big/jitgate.yaml" bench-svc)
stop "$big"
big_before=$(entries "$big")

small_name="guarded GET, 1k-entry log"
big_name="guarded GET, $big_n-entry log"
pairs=$(mktemp "$BENCH_TMP/pairs.XXXXXX")
small_start=() big_start=() small_sizes=()
for ((i = 1; i <= runs; i++)); do
  small="$base/small"
  make_instance "$small"
  fill "$small" "$small_n"
  serve "$small"
  small_start+=("$(cat "$small/start_s")")
  small_token=$("$GS" "$small/jitgate.yaml" bench-svc)
  BENCH_RESULTS=$pairs BENCH_RUNS=1 bench_wrk "$small_name" "$(cat "$small/url")/v1/services/bench-svc/probes" \
    -H "Authorization: Bearer $small_token"
  stop "$small"
  small_sizes+=("$(entries "$small")")

  serve "$big"
  big_start+=("$(cat "$big/start_s")")
  BENCH_RESULTS=$pairs BENCH_RUNS=1 bench_wrk "$big_name" "$(cat "$big/url")/v1/services/bench-svc/probes" \
    -H "Authorization: Bearer $big_token"
  stop "$big"
  tail -n 2 "$pairs" | awk -F'\t' -v i="$i" 'NR == 1 {s = $2} NR == 2 {
    printf "bench: pair %d: small %d req/s, large %d req/s, ratio %.3f\n", i, s, $2, (s > 0 ? $2 / s : 0)}' >&2
done
bench_pairs_median "$pairs"
rm -f "$pairs"
big_after=$(entries "$big")
"$JG_BIN" audit check -c "$big/jitgate.yaml" >"$big/check.log" 2>&1 ||
  { cat "$big/check.log" >&2; bench_die "the large log does not verify after the runs"; }

bench_table "Guarded GET vs the audit log's size (issue 18 item 3), HTTPS keep-alive, $BENCH_CONNECTIONS connections, ${BENCH_SECONDS}s (median of $runs pairs)" \
  "$small_name" guard_history "$small_name" "$big_name"
ratio=$(awk -F'\t' -v s="$small_name" -v b="$big_name" '$1 == s {rs = $2} $1 == b {rb = $2}
  END {if (rs > 0) printf "%.3f", rb / rs; else print "-"}' "$BENCH_TMP/results")
{
  printf 'large/small req/s: %s (goal >= 0.9 at %d entries; measured at %d' "$ratio" "$GOAL_ENTRIES" "$big_n"
  [ "$big_n" -ge "$GOAL_ENTRIES" ] || printf ', below the goal size: BENCH_GUARD_ENTRIES=%d measures it' "$GOAL_ENTRIES"
  printf ')\n'
  printf 'large log: %d entries before the runs, %d after; small log: %d filled (and the grant and token'"'"'s\n' \
    "$big_before" "$big_after" "$small_n"
  printf '  entries) afresh before each of its runs, %s after them\n' "$(IFS=,; echo "${small_sizes[*]}")"
  printf 'serve to /healthz s: small %s; large %s\n' "$(printf '%.2f ' "${small_start[@]}")" \
    "$(printf '%.2f ' "${big_start[@]}")"
  # what the two instances logged at warn or above (log_level warn), if anything
  for d in "$base/small" "$big"; do
    [ ! -s "$d/jitgate.log" ] || printf '%s logged %d line(s) at warn or above (first: %s)\n' \
      "${d##*/}" "$(wc -l <"$d/jitgate.log")" "$(head -n 1 "$d/jitgate.log")"
  done
} | tee -a "$BENCH_OUT/guard_history.tsv"
