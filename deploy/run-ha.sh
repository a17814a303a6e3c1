#!/usr/bin/env bash
# `make run-ha`: jitgate as several replicas on a replicated PostgreSQL, on this machine, to try
# what docs/operations.md ("Running several replicas", "Failover") describes.  A throwaway
# PostgreSQL 15 primary and a synchronous standby on loopback (tests/lib/pg-cluster.sh: run as the
# `postgres` user when root, as the caller otherwise; their data in a new directory under
# ${TMPDIR:-/tmp}, never in the clone), the development identity provider, and two jitgate replicas
# on two ports serving one database through a multi-host URL with target_session_attrs=read-write.
# Everything else (configuration, keys shared by both replicas, TLS certificate, logs, telemetry
# files, checkpoint sink) lives in another temporary directory.  Ctrl-C stops everything and
# removes both directories: nothing is kept, unlike `make run` (var/, SQLite).
#
# Environment: RUN_HA_PORTS ("8443 8444"), RUN_HA_IDP_PORT (9000).  The public URL of both replicas
# is the first port's (as behind a load balancer): the web sign-in returns there; bearer tokens
# and capability tokens work on both.
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

# First the cluster: pg-cluster.sh starts it, runs this script again inside it (JG_PG_* set), and
# stops and removes it when that run ends, however it ends.
if [ -z "${JG_PG_BASE:-}" ]; then
	exec tests/lib/pg-cluster.sh run --standby -- "$self" "$@"
fi

read -r port_a port_b <<<"${RUN_HA_PORTS:-8443 8444}"
idp_port=${RUN_HA_IDP_PORT:-9000}
public="https://127.0.0.1:$port_a"
ha=$(mktemp -d "${TMPDIR:-/tmp}/jitgate-ha.XXXXXX")
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$ha"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

umask 077
mkdir -p "$ha/tls" "$ha/keys" "$ha/checkpoints" "$ha/idp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
	-subj "/CN=jitgate run-ha" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	-keyout "$ha/tls/key.pem" -out "$ha/tls/cert.pem" 2>/dev/null
chmod 644 "$ha/tls/cert.pem"

# The roles of docs/operations.md, "PostgreSQL roles": `jitgate` owns database jitgate and runs
# `jitgate migrate`; the replicas serve as jitgate_app, a member of the group role jitgate_serving
# (made here by the DBA, so the owner needs no CREATEROLE).
psql -X -q -v ON_ERROR_STOP=1 -d "$JG_PG_ADMIN_URL" <<-'SQL'
	CREATE ROLE jitgate_serving NOLOGIN;
	CREATE ROLE jitgate_app LOGIN IN ROLE jitgate_serving;
SQL
hosts="127.0.0.1:$JG_PG_PORT,127.0.0.1:$JG_PG_STANDBY_PORT"

# The development provider: jitgate's redirect URI is the public URL's.
PORT=$idp_port JITGATE_URL=$public KEY_FILE="$ha/idp/jwks.json" CLIENT_SECRET_FILE="$ha/idp/client-secret" \
	node deploy/dev-idp/server.mjs >"$ha/idp/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
	curl -sf -o /dev/null "http://127.0.0.1:$idp_port/.well-known/openid-configuration" && break
	kill -0 "${pids[0]}" 2>/dev/null || { cat "$ha/idp/server.log" >&2; exit 1; }
	sleep 0.1
done

for r in a b; do
	port=$port_a
	[ "$r" = a ] || port=$port_b
	cat >"$ha/replica-$r.yaml" <<-YAML
		# replica $r of make run-ha (deploy/run-ha.sh)
		listen: "127.0.0.1:$port"
		public_url: "$public"
		log_level: info
		tls:
		  cert_file: tls/cert.pem
		  key_file: tls/key.pem
		database:
		  url: "postgres://jitgate_app@$hosts/jitgate?target_session_attrs=read-write"
		  owner_url: "postgres://jitgate@$hosts/jitgate?target_session_attrs=read-write"
		telemetry:
		  database: "telemetry-$r.db"
		migrations_dir: $PWD/migrations
		policy_dir: $PWD/policies
		key_dir: keys
		audit:
		  origin: jitgate-run-ha/audit
		  sink_dir: checkpoints
		oidc:
		  issuer: "http://127.0.0.1:$idp_port"
		  client_id: jitgate
		  allowed_clients: [jitgate, jitgate-cli]
		  client_secret_file: idp/client-secret
		  audience: "$public"
	YAML
done

build/jitgate migrate -c "$ha/replica-a.yaml" >/dev/null
build/jitgate migrate -c "$ha/replica-b.yaml" >/dev/null # its own telemetry file
build/jitgate keys generate -c "$ha/replica-a.yaml" >/dev/null
for r in a b; do build/jitgate demo seed -c "$ha/replica-$r.yaml" >/dev/null; done

for r in a b; do
	build/jitgate serve -c "$ha/replica-$r.yaml" 2>"$ha/replica-$r.log" &
	pids+=($!)
done
pid_a=${pids[1]} pid_b=${pids[2]}
for port in "$port_a" "$port_b"; do
	for i in $(seq 1 100); do
		curl -sf -o /dev/null --cacert "$ha/tls/cert.pem" "https://127.0.0.1:$port/readyz" && break
		[ "$i" -lt 100 ] || { echo "run-ha: the replica on port $port is not ready:" >&2; tail -5 "$ha"/replica-*.log >&2; exit 1; }
		sleep 0.1
	done
done

ca="--cacert $ha/tls/cert.pem"
pgc="tests/lib/pg-cluster.sh"
cat <<MSG

  replica a:   https://127.0.0.1:$port_a   (pid $pid_a, log $ha/replica-a.log)
  replica b:   https://127.0.0.1:$port_b   (pid $pid_b, log $ha/replica-b.log)
  PostgreSQL:  primary 127.0.0.1:$JG_PG_PORT, synchronous standby 127.0.0.1:$JG_PG_STANDBY_PORT  (data in $JG_PG_BASE)
  identity provider: http://127.0.0.1:$idp_port (development users of make run, any password)
  public URL (both replicas, as behind a load balancer): $public

  A token:    build/jitgate login --issuer http://127.0.0.1:$idp_port --client-id jitgate-cli --audience $public
  Use either: curl $ca -H "Authorization: Bearer \$(cat ~/.config/jitgate/token)" https://127.0.0.1:$port_b/v1/me
  Ready?      curl $ca https://127.0.0.1:$port_a/readyz ; curl $ca https://127.0.0.1:$port_b/readyz

  Kill things and watch it survive:
    a replica:        kill -9 $pid_a        (replica b serves on, with every request, grant and session)
    the primary:      $pgc kill $JG_PG_BASE primary
                      (writes answer 503 JSON until a primary is back)
    then promote the standby (clears its synchronous_standby_names, or every commit would wait
    forever for a standby it no longer has):
                      $pgc promote $JG_PG_BASE
                      (the replicas reconnect by themselves through the multi-host URL)
    verify the log:   build/jitgate audit check -c $ha/replica-b.yaml --against-sink $ha/checkpoints

  Stop everything and remove it: Ctrl-C

MSG
echo "run-ha: ready"
wait
