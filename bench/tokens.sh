#!/usr/bin/env bash
# bench/tokens.sh - capability-token verifications per second on one core, with
# distinct tokens and no cache, next to `openssl speed ecdsap256` verify/s
# measured in the same run (the ECDSA P-256 limit).  Goal: >= 0.7x.
set -euo pipefail
. "$REPO/bench/lib.sh"

TB="$REPO/build/bench/token_bench"
[ -x "$TB" ] || bench_die "$TB is missing: run 'make build/bench/token_bench'"
dir="$BENCH_TMP/tokens"
mkdir -p "$dir"
cat >"$dir/jitgate.yaml" <<YAML
public_url: "https://127.0.0.1:1"
tls: {cert_file: $TLS_CERT, key_file: $TLS_KEY}
database: {url: "sqlite://jitgate.db"}
key_dir: keys
oidc: {issuer: "http://127.0.0.1:9", client_id: jitgate, allowed_clients: [jitgate]}
YAML
"$JG_BIN" keys generate -c "$dir/jitgate.yaml" >/dev/null
bench_log "tokens: openssl speed ecdsap256 (one core)"
limit=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa \(nistp256\)/ {print $NF}')
bench_log "tokens: jitgate verifications (${BENCH_SECONDS}s, one thread, distinct tokens)"
got=$(taskset -c 0 "$TB" "$dir/keys" "$BENCH_SECONDS" | awk '$1 == "token_verifications_per_s" {print $2}')
mkdir -p "$BENCH_OUT"
{
  printf '\ncapability tokens (ES256), one core\n'
  printf '%-44s %14s %14s %8s\n' measure value reference ratio
  printf '%-44s %14.0f %14.0f %8.2f\n' "verifications/s (distinct tokens, no cache)" "$got" "$limit" "$(echo "$got / $limit" | bc -l)"
  echo "(reference: openssl speed ecdsap256 verify/s on one core)"
} | tee "$BENCH_OUT/tokens.tsv"
