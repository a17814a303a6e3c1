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
grep -q '^nginx' "$BENCH_TMP/results" 2>/dev/null || bench_die "run the http section first (it measures nginx)"
token=$("$GS" "$JG_CONFIG" bench-svc)
bench_wrk "jitgate guarded GET" "$JG_URL/v1/services/bench-svc/probes" -H "Authorization: Bearer $token"
bench_table "Guarded GET, HTTPS keep-alive, $BENCH_CONNECTIONS connections, ${BENCH_SECONDS}s" \
  nginx guard nginx "jitgate guarded GET"
