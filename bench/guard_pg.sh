#!/usr/bin/env bash
# bench/guard_pg.sh - the guarded GET of bench/guard.sh served from PostgreSQL: a second jitgate,
# its state database on a throwaway PostgreSQL 15 primary of tests/lib/pg-cluster.sh (loopback,
# data under $TMPDIR, fsync and synchronous_commit on, no standby), next to nginx's static 200 over
# TLS measured in the same run (paired runs, as bench/guard.sh), and next to the SQLite jitgate of
# bench/run.sh (the guard section's row, if it ran before this one); then three replicas on the one
# database, each loaded by its own wrk at once (issue 17's "3 replicas x 32 clients" of audited
# actions, served over HTTPS).  Every guarded call verifies the token, re-reads the grant, proves
# the token's audit anchor and appends a durable probe.list entry before answering.  Goal: >= 0.25x
# nginx.  Run by bench/run.sh after the http section.
set -euo pipefail
. "$REPO/bench/lib.sh"

# A cluster of its own, removed when this script ends.
if [ -z "${JG_PG_BASE:-}" ]; then
  exec "$REPO/tests/lib/pg-cluster.sh" run -- "$0" "$@"
fi

GS="$REPO/build/bench/guard_setup"
[ -x "$GS" ] || bench_die "$GS is missing: run 'make build/bench/guard_setup'"
[ -s "$BENCH_TMP/nginx_url" ] || bench_die "run the http section first (it starts nginx)"
bench_pg_durable

dir="$BENCH_TMP/guard_pg"
mkdir -p "$dir/keys"
cp -r "$BENCH_TMP/tls" "$dir/tls"
cp -r "$BENCH_TMP/policies" "$dir/policies"
port=$(bench_free_port)
url="https://127.0.0.1:$port"
# The configuration of bench/run.sh's jitgate, but for the database (telemetry in it too).
sed -e "s|^listen: .*|listen: \"127.0.0.1:$port\"|" -e "s|^public_url: .*|public_url: \"$url\"|" \
  -e "s|url: \"sqlite://jitgate.db\"|url: \"$JG_PG_URL\"|" "$JG_CONFIG" >"$dir/jitgate.yaml"
grep -q "$JG_PG_URL" "$dir/jitgate.yaml" || bench_die "could not point the configuration at PostgreSQL"
printf 'telemetry:\n  database: "%s"\n' "$JG_PG_URL" >>"$dir/jitgate.yaml"
"$JG_BIN" migrate -c "$dir/jitgate.yaml" >"$dir/migrate.log" 2>&1 ||
  { cat "$dir/migrate.log" >&2; bench_die "jitgate migrate (PostgreSQL) failed"; }
"$JG_BIN" keys generate -c "$dir/jitgate.yaml" >"$dir/keys.log" 2>&1 ||
  { cat "$dir/keys.log" >&2; bench_die "jitgate keys generate (PostgreSQL) failed"; }
"$JG_BIN" serve -c "$dir/jitgate.yaml" 2>"$dir/jitgate.log" &
pid=$!
bench_track "$pid"
bench_wait_https "$url/healthz" "$pid" "jitgate (PostgreSQL)" || { cat "$dir/jitgate.log" >&2; exit 1; }

token=$("$GS" "$dir/jitgate.yaml" bench-svc)
bench_wrk_paired "nginx (paired, pg)" "$(cat "$BENCH_TMP/nginx_url")" \
  "jitgate guarded GET, pg" "$url/v1/services/bench-svc/probes" -H "Authorization: Bearer $token"

# Three replicas on the one database, each with its own port and the same keys and public URL (as
# behind a load balancer), each loaded by its own wrk at the same time: audited guarded calls of
# three writers on one chain head.
urls=("$url/v1/services/bench-svc/probes")
pids=("$pid")
for r in 2 3; do
  rport=$(bench_free_port)
  sed -e "s|^listen: .*|listen: \"127.0.0.1:$rport\"|" "$dir/jitgate.yaml" >"$dir/replica$r.yaml"
  "$JG_BIN" serve -c "$dir/replica$r.yaml" 2>"$dir/replica$r.log" &
  pids+=("$!")
  bench_track "$!"
  bench_wait_https "https://127.0.0.1:$rport/healthz" "$!" "jitgate replica $r (PostgreSQL)" ||
    { cat "$dir/replica$r.log" >&2; exit 1; }
  urls+=("https://127.0.0.1:$rport/v1/services/bench-svc/probes")
done
bench_wrk_together "3 replicas x $BENCH_CONNECTIONS, pg" "${urls[@]}" -- -H "Authorization: Bearer $token"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
"$JG_BIN" audit check -c "$dir/jitgate.yaml" >"$dir/check.log" 2>&1 ||
  { cat "$dir/check.log" >&2; bench_die "the audit log of the PostgreSQL replicas does not verify"; }
bench_table "Guarded GET on PostgreSQL, HTTPS keep-alive, $BENCH_CONNECTIONS connections, ${BENCH_SECONDS}s (median of ${BENCH_RUNS:-3} pairs; the SQLite row is the guard section's; the replicas row sums three wrks at once, one per replica)" \
  "nginx (paired, pg)" guard_pg "nginx (paired, pg)" "jitgate guarded GET, pg" "3 replicas x $BENCH_CONNECTIONS, pg" "jitgate guarded GET"
