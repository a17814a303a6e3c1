#!/usr/bin/env bash
# bench/run.sh - jitgate's benchmarks (`make bench`, after `make deps build`).
#
#   bench/run.sh [SECTION...]     default: every section in $BENCH_SECTIONS
#
# Each benchmark compares jitgate with a reference measured in the same run
# on the same machine (a limit, not a fixed target), and prints the ratio.
# This script installs the tools if missing, creates a temporary directory
# with a self-signed EC P-256 certificate, starts one jitgate on a free
# loopback port (SQLite in the temporary directory, log_level warn), then
# runs bench/<section>.sh for each section.  Everything it started is stopped
# and the directory removed on exit.  See docs/performance.md.
#
# Environment: BENCH_SECONDS (10), BENCH_RUNS (3: the median is reported), BENCH_WARMUP (1),
# BENCH_THREADS (1), BENCH_EVENT_THREADS (jitgate's limits.event_threads; 0 = its default),
# BENCH_CONNECTIONS (32), BENCH_SECTIONS ("http guard guard_history guard_pg audit audit_pg tokens telemetry web_logs agent uprobe"), BENCH_OUT (bench/out),
# BENCH_GUARD_ENTRIES (1000000: the large log of guard_history; its goal is stated at 10000000),
# BENCH_AGENT_ROUNDS (7: rounds of the agent section), BENCH_NGINX_WORKERS (auto), BENCH_KEEP_TMP=1 keeps the temporary directory (logs, wrk output).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export REPO
. "$REPO/bench/lib.sh"

export BENCH_SECONDS=${BENCH_SECONDS:-10}
export BENCH_WARMUP=${BENCH_WARMUP:-1}
export BENCH_THREADS=${BENCH_THREADS:-1}
export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-32}
export BENCH_OUT=${BENCH_OUT:-$REPO/bench/out}
sections=("$@")
[ ${#sections[@]} -gt 0 ] || read -r -a sections <<<"${BENCH_SECTIONS:-http guard guard_history guard_pg audit audit_pg tokens telemetry web_logs agent uprobe}"
for s in "${sections[@]}"; do
  [ -x "$REPO/bench/$s.sh" ] || bench_die "no benchmark section bench/$s.sh"
done
case $BENCH_SECONDS in '' | *[!0-9]* | 0) bench_die "BENCH_SECONDS must be a positive integer" ;; esac

# ---- tools ------------------------------------------------------------------
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v bc >/dev/null 2>&1 || need+=(bc)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  bench_log "installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# nginx-light may leave the system nginx running on port 80; this script never
# uses it and never touches it.

JG_BIN="$REPO/build/jitgate"
[ -x "$JG_BIN" ] || bench_die "$JG_BIN is missing: run 'make build' first"
export JG_BIN

# ---- temporary directory and cleanup ------------------------------------------
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/jitgate-bench.XXXXXX")
export BENCH_TMP
: >"$BENCH_TMP/pids"
: >"$BENCH_TMP/results"

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  # Stop exactly the processes this run started, newest first, then wait.
  if [ -f "$BENCH_TMP/pids" ]; then
    for pid in $(tac "$BENCH_TMP/pids"); do
      kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $(tac "$BENCH_TMP/pids"); do
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
    bench_log "kept $BENCH_TMP"
  else
    rm -rf "$BENCH_TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$BENCH_OUT"

# ---- certificate (EC P-256, self-signed, for 127.0.0.1) -----------------------
umask 077
export TLS_CERT="$BENCH_TMP/tls/cert.pem" TLS_KEY="$BENCH_TMP/tls/key.pem"
mkdir -p "$BENCH_TMP/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=jitgate bench" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null || bench_die "openssl could not create a certificate"
chmod 600 "$TLS_KEY"
chmod 644 "$TLS_CERT"

# ---- jitgate --------------------------------------------------------------------
jg_port=$(bench_free_port)
export JG_CONFIG="$BENCH_TMP/jitgate.yaml" JG_LOG="$BENCH_TMP/jitgate.log"
export JG_URL="https://127.0.0.1:$jg_port"
mkdir -p "$BENCH_TMP/keys" "$BENCH_TMP/policies"
# The repository's policies, and one that grants the user "bench" what the guarded
# benchmarks ask for at once: bench/guard_setup requests its grants through the
# access lifecycle, as POST /v1/requests would, and needs no approver.
cp "$REPO"/policies/*.yaml "$BENCH_TMP/policies/"
cat >"$BENCH_TMP/policies/bench.yaml" <<'YAML'
# Written by bench/run.sh for bench/guard_setup (grants of the benchmarks).
policy: bench
description: Grants for the benchmarks, granted at once to the user bench
services: ["bench-*"]
rules:
  - capabilities: [read-logs, read-traces, read-metrics, deploy-probe]
    requesters: {users: [bench]}
    max_duration: 24h
    approval: none
YAML
cat >"$JG_CONFIG" <<YAML
# Written by bench/run.sh for one benchmark run.
listen: "127.0.0.1:$jg_port"
public_url: "$JG_URL"
log_level: warn
tls:
  cert_file: tls/cert.pem
  key_file: tls/key.pem
database:
  url: "sqlite://jitgate.db"
migrations_dir: "$REPO/migrations"
policy_dir: policies
key_dir: keys
tokens:
  lifetime_seconds: 86400   # a benchmark's token outlives any BENCH_SECONDS
limits:
  max_connections: 256
  max_connections_per_address: 256   # every benchmark client is 127.0.0.1
  event_threads: ${BENCH_EVENT_THREADS:-0}
oidc:                  # required; nothing listens there: the benchmarks need no sign-in
  issuer: "http://127.0.0.1:9"
  client_id: jitgate
  allowed_clients: [jitgate]
YAML
"$JG_BIN" migrate -c "$JG_CONFIG" >"$BENCH_TMP/migrate.log" 2>&1 ||
  { cat "$BENCH_TMP/migrate.log" >&2; bench_die "jitgate migrate failed"; }
# Signing keys (token, audit checkpoint), once the binary has the command.
if "$JG_BIN" help 2>/dev/null | grep -Eq '^ +keys '; then
  "$JG_BIN" keys generate -c "$JG_CONFIG" >"$BENCH_TMP/keys.log" 2>&1 ||
    { cat "$BENCH_TMP/keys.log" >&2; bench_die "jitgate keys generate failed"; }
fi
"$JG_BIN" serve -c "$JG_CONFIG" 2>"$JG_LOG" &
jg_pid=$!
bench_track "$jg_pid"
bench_wait_https "$JG_URL/healthz" "$jg_pid" jitgate || { cat "$JG_LOG" >&2; exit 1; }

bench_log "jitgate $("$JG_BIN" version | awk '{print $2}') on $JG_URL; $(nproc) CPU(s); $(date -u +%Y-%m-%dT%H:%MZ)"

# ---- sections -------------------------------------------------------------------
for s in "${sections[@]}"; do
  "$REPO/bench/$s.sh"
done

# Anything jitgate logged at warn or above during the run is worth a look.
# Known: wrk opens one plain TCP connection per run to check the address and
# closes it without a TLS handshake; libmicrohttpd logs that as "received
# handshake message out of context".
if [ -s "$JG_LOG" ]; then
  bench_log "jitgate logged $(wc -l <"$JG_LOG") line(s) at warn or above, by message:"
  sed -n 's/.*"msg":"\([^"]*\)".*/\1/p' "$JG_LOG" | sort | uniq -c | sort -rn | head -n 10 >&2
fi
kill -0 "$jg_pid" 2>/dev/null || bench_die "jitgate is no longer running after the benchmarks"
