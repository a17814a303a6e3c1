#!/usr/bin/env bash
# bench/audit_pg.sh - the audit writer on PostgreSQL against the limit it is built on, measured in
# the same run on the same throwaway server:
#   durable appends/s, 1 client   vs  raw durable single-row commits/s (goal >= 0.8x)
#   durable appends/s, 32 clients vs  raw commits/s, measured again     (goal >= 5x)
#   3 writers (three processes, as three replicas) x 32 clients each, summed, vs raw commits/s, again
# The server is one PostgreSQL 15 primary of tests/lib/pg-cluster.sh (loopback, data under $TMPDIR),
# with fsync switched back on (the test clusters run without it) and synchronous_commit on: a commit
# is on disk before it returns.  No standby: a synchronous standby adds its round trip to every commit,
# raw and jitgate's alike.  The raw reference is a libpq loop of one prepared INSERT of a 350-byte row
# per transaction (audit_bench rawpg), the shape of pgbench's insert-only script.  jitgate's figures
# come from audit_bench append (jg_audit_append from N threads into one writer, as serve runs it),
# with the number of batches the pipelined fast path committed.  Each figure is paired with a raw run
# right before it: the disk's fsync latency moves within minutes here (2,949 and 5,867 raw commits/s
# ten minutes apart), and a ratio is only as good as its reference.  Run by bench/run.sh.
set -euo pipefail
. "$REPO/bench/lib.sh"

# A cluster of its own, removed when this script ends.
if [ -z "${JG_PG_BASE:-}" ]; then
  exec "$REPO/tests/lib/pg-cluster.sh" run -- "$0" "$@"
fi

AB="$REPO/build/bench/audit_bench"
[ -x "$AB" ] || bench_die "$AB is missing: run 'make build/bench/audit_bench'"
secs=${BENCH_SECONDS}
bench_pg_durable

dir="$BENCH_TMP/audit_pg"
mkdir -p "$dir"
cp -r "$BENCH_TMP/tls" "$dir/tls"
cat >"$dir/jitgate.yaml" <<YAML
public_url: "https://127.0.0.1:1"
log_level: warn
tls: {cert_file: tls/cert.pem, key_file: tls/key.pem}
database: {url: "$JG_PG_URL"}
telemetry: {database: telemetry.db}
migrations_dir: "$REPO/migrations"
key_dir: keys
oidc: {issuer: "http://127.0.0.1:9", client_id: jitgate, allowed_clients: [jitgate]}
YAML
"$JG_BIN" migrate -c "$dir/jitgate.yaml" >/dev/null
"$JG_BIN" keys generate -c "$dir/jitgate.yaml" >/dev/null

val() { awk -v k="$1" '$1 == k {print $2}'; }

raw() {
  bench_log "audit_pg: raw PostgreSQL durable commits (${secs}s)"
  "$AB" rawpg "$JG_PG_URL" "$secs" | val raw_commits_per_s
}
raw1=$(raw)
bench_log "audit_pg: durable appends, 1 client (${secs}s)"
out1=$("$AB" append "$dir" 1 "$secs")
a1=$(val appends_per_s_1 <<<"$out1")
raw32=$(raw)
bench_log "audit_pg: durable appends, 32 clients (${secs}s)"
out32=$("$AB" append "$dir" 32 "$secs")
a32=$(val appends_per_s_32 <<<"$out32")
raw3=$(raw)
bench_log "audit_pg: 3 writers x 32 clients (${secs}s)"
for i in 1 2 3; do "$AB" append "$dir" 32 "$secs" >"$dir/rep$i.out" & done
wait
a3x32=0
for i in 1 2 3; do a3x32=$(echo "$a3x32 + $(val appends_per_s_32 <"$dir/rep$i.out")" | bc -l); done
"$JG_BIN" audit check -c "$dir/jitgate.yaml" >"$dir/check.out" || bench_die "the log does not verify: $(cat "$dir/check.out")"

mkdir -p "$BENCH_OUT"
{
  printf '\naudit log on PostgreSQL (%s)\n' "$(cat "$dir/check.out")"
  printf '%-44s %14s %14s %8s\n' measure value reference ratio
  printf '%-44s %14.0f %14.0f %8.2f\n' "durable appends/s, 1 client" "$a1" "$raw1" "$(echo "$a1 / $raw1" | bc -l)"
  printf '%-44s %14.0f %14.0f %8.2f\n' "durable appends/s, 32 clients" "$a32" "$raw32" "$(echo "$a32 / $raw32" | bc -l)"
  printf '%-44s %14.0f %14.0f %8.2f\n' "durable appends/s, 3 writers x 32 clients" "$a3x32" "$raw3" "$(echo "$a3x32 / $raw3" | bc -l)"
  printf 'fast-path batches: 1 client %s of %s, 32 clients %s of %s\n' \
    "$(val fast_batches_1 <<<"$out1")" "$(val batches_1 <<<"$out1")" \
    "$(val fast_batches_32 <<<"$out32")" "$(val batches_32 <<<"$out32")"
  echo "(reference: raw PostgreSQL single-row commits/s, one client, fsync=on, synchronous_commit=on, no standby, measured right before each row)"
} | tee "$BENCH_OUT/audit_pg.tsv"
