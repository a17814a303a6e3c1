#!/usr/bin/env bash
# bench/guard.sh - a guarded GET (GET /v1/services/{svc}/probes with a valid capability
# token) over TLS keep-alive, next to nginx's static 200 over TLS 1.3 measured in the
# same run (bench/http.sh leaves its row in the results).  Every guarded call verifies
# the token, re-reads the grant, proves the token's audit anchor into the verified log
# and appends a durable probe.list entry before answering.  Goal: >= 0.3x nginx.
set -euo pipefail
. "$REPO/bench/lib.sh"

GS="$REPO/build/bench/guard_setup"
[ -x "$GS" ] || bench_die "$GS is missing: run 'make build/bench/guard_setup'"
[ -s "$BENCH_TMP/nginx_url" ] || bench_die "run the http section first (it starts nginx)"
token=$("$GS" "$JG_CONFIG" bench-svc)
# nginx and the guarded GET alternate, and the pair with the median ratio is shown
bench_wrk_paired "nginx (paired)" "$(cat "$BENCH_TMP/nginx_url")" \
  "jitgate guarded GET" "$JG_URL/v1/services/bench-svc/probes" -H "Authorization: Bearer $token"
bench_table "Guarded GET, HTTPS keep-alive, $BENCH_CONNECTIONS connections, ${BENCH_SECONDS}s (median of ${BENCH_RUNS:-3} pairs)" \
  "nginx (paired)" guard "nginx (paired)" "jitgate guarded GET"
