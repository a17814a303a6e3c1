#!/usr/bin/env bash
# pg-cluster.sh - throwaway PostgreSQL 15 clusters for tests, on loopback.
#
# A cluster lives in a new directory under ${TMPDIR:-/tmp} (never in the checkout): the primary in
# BASE/primary, a standby in BASE/standby, both with their unix sockets in BASE/sock and listening on
# 127.0.0.1 only, on free ports.  PostgreSQL refuses to run as root, so as root the directory is
# given to the `postgres` system user and every server program runs as that user (runuser); as
# anyone else they run as the caller.  Nothing the servers need is read from the checkout (a clone
# under `mktemp -d` is mode 0700 and closed to the postgres user): the configuration is written
# here.  Authentication is `trust` on loopback for the superuser `postgres` and the role `jitgate`
# (owner of database `jitgate`), and scram-sha-256 for roles made by `role` (members of
# jg_password_roles), so password files can be tested too.
#
# Every cluster is removed when its owner process ends: a watchdog started with it polls the owner
# (the caller, or --owner PID) each second and stops and deletes the cluster once it is gone, so a
# test that dies - even by SIGKILL - leaves no server behind.  `run` also stops it on exit.
#
# usage:
#   pg-cluster.sh start [--owner PID]       start a primary; prints JG_PG_* lines for eval
#   pg-cluster.sh standby BASE              add a synchronous streaming standby (pg_basebackup -R)
#   pg-cluster.sh promote BASE              promote the standby; clear its synchronous_standby_names
#   pg-cluster.sh kill BASE primary|standby stop one server at once (immediate: like a crash)
#   pg-cluster.sh revive BASE primary|standby   start a killed server again, on its port
#   pg-cluster.sh role BASE NAME FILE       a LOGIN role with a random password, written to FILE (0600)
#   pg-cluster.sh sql BASE primary|standby SQL   run SQL as the superuser (psql -At) on database jitgate
#   pg-cluster.sh stop BASE                 stop every server of BASE and remove BASE
#   pg-cluster.sh run [--standby] -- CMD... start (and a standby), export JG_PG_*, run CMD, stop
#
# The JG_PG_* variables: JG_PG_BASE, JG_PG_PORT, JG_PG_URL (role jitgate), JG_PG_ADMIN_URL (role
# postgres), JG_PG_SOCKET (the socket directory), and after `standby` JG_PG_STANDBY_PORT.
set -euo pipefail

BIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
self=$(readlink -f "$0")

die() { echo "pg-cluster: $*" >&2; exit 1; }

[ -x "$BIN/initdb" ] || die "$BIN/initdb not found: install postgresql-15 (make deps)"

# Runs a server program as the owner of the clusters: postgres when root, the caller otherwise.  The
# working directory is / so that a checkout closed to that user does not matter.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && "$@")
	fi
}

# A TCP port nothing listens on now; start() retries when a race takes it first.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

load() {
	BASE=${1:?BASE missing}
	[ -f "$BASE/env" ] || die "$BASE: not a cluster made by pg-cluster.sh"
	# shellcheck disable=SC1091
	. "$BASE/env"
}

node_port() {
	case "$1" in
	primary) echo "$JG_PG_PORT" ;;
	standby) echo "${JG_PG_STANDBY_PORT:?no standby}" ;;
	*) die "node must be primary or standby, not '$1'" ;;
	esac
}

psql_node() { # port, then psql arguments
	local port=$1
	shift
	PGCONNECT_TIMEOUT=5 psql -X -q -At -v ON_ERROR_STOP=1 -h "$JG_PG_SOCKET" -p "$port" -U postgres \
		-d "${PGDATABASE_OVERRIDE:-jitgate}" "$@"
}

# Starts the server of data directory $1 on a free port (retried when the port was taken between
# the check and the bind); prints the port.
start_server() {
	local dir=$1 port
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		if as_owner "$BIN/pg_ctl" -D "$dir" -l "$dir.log" -w -t 60 \
			-o "-p $port -k $JG_PG_SOCKET" start >/dev/null 2>&1; then
			echo "$port"
			return 0
		fi
		grep -q "could not bind\|already in use" "$dir.log" 2>/dev/null ||
			{ tail -n 20 "$dir.log" >&2; die "$dir: the server did not start"; }
	done
	die "$dir: no free port after 5 tries"
}

# Stops and removes everything under $1 (used by stop and by the watchdog).
teardown() {
	local base=$1 d
	for d in "$base/standby" "$base/primary"; do
		if [ -f "$d/postmaster.pid" ]; then
			as_owner "$BIN/pg_ctl" -D "$d" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
		fi
	done
	rm -rf "$base"
}

cmd_start() {
	local owner=$PPID
	while [ $# -gt 0 ]; do
		case "$1" in
		--owner) owner=${2:?--owner needs a PID}; shift 2 ;;
		*) die "start: unknown argument $1" ;;
		esac
	done
	BASE=$(mktemp -d "${TMPDIR:-/tmp}/jg-pg-XXXXXX")
	JG_PG_SOCKET=$BASE/sock
	mkdir -m 0700 "$JG_PG_SOCKET"
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || die "running as root needs the postgres system user"
		chown -R postgres:postgres "$BASE"
	fi
	# The watchdog: started before initdb so that nothing is left if this script dies half-way.
	cp "$self" "$BASE/.pg-cluster.sh"
	setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
		[ -d "$2" ] && bash "$2/.pg-cluster.sh" stop "$2"' watchdog "$owner" "$BASE" \
		</dev/null >/dev/null 2>&1 &
	disown
	local dir=$BASE/primary
	as_owner "$BIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C -N >"$BASE/initdb.log" 2>&1 ||
		{ cat "$BASE/initdb.log" >&2; teardown "$BASE"; die "initdb failed"; }
	# Test servers: no fsync (nothing here must survive an OS crash), small memory, loopback only;
	# no autovacuum, whose analyze transactions would move jg_store_data_version() at random.
	as_owner tee -a "$dir/postgresql.conf" >/dev/null <<-EOF
		listen_addresses = '127.0.0.1'
		fsync = off
		autovacuum = off
		shared_buffers = 32MB
		max_connections = 80
		wal_level = replica
		max_wal_senders = 8
		wal_keep_size = 128MB
		hot_standby = on
		log_min_messages = warning
		log_connections = off
	EOF
	as_owner tee "$dir/pg_hba.conf" >/dev/null <<-EOF
		local all all trust
		host all +jg_password_roles 127.0.0.1/32 scram-sha-256
		host all all 127.0.0.1/32 trust
		host replication postgres 127.0.0.1/32 trust
	EOF
	JG_PG_PORT=$(start_server "$dir") || { teardown "$BASE"; exit 1; }
	PGDATABASE_OVERRIDE=postgres psql_node "$JG_PG_PORT" <<-EOF || { teardown "$BASE"; die "setup SQL failed"; }
		CREATE ROLE jitgate LOGIN;
		CREATE ROLE jg_password_roles NOLOGIN;
		CREATE DATABASE jitgate OWNER jitgate;
	EOF
	cat >"$BASE/env" <<-EOF
		JG_PG_BASE=$BASE
		JG_PG_SOCKET=$JG_PG_SOCKET
		JG_PG_PORT=$JG_PG_PORT
		JG_PG_URL=postgres://jitgate@127.0.0.1:$JG_PG_PORT/jitgate
		JG_PG_ADMIN_URL=postgres://postgres@127.0.0.1:$JG_PG_PORT/jitgate
	EOF
	cat "$BASE/env"
}

cmd_standby() {
	load "$1"
	[ -z "${JG_PG_STANDBY_PORT:-}" ] || die "$BASE already has a standby"
	local dir=$BASE/standby
	# -R writes primary_conninfo and standby.signal; -X stream copies the WAL made meanwhile.
	as_owner "$BIN/pg_basebackup" -h 127.0.0.1 -p "$JG_PG_PORT" -U postgres -D "$dir" -R -X stream \
		-c fast -N >"$BASE/basebackup.log" 2>&1 ||
		{ cat "$BASE/basebackup.log" >&2; die "pg_basebackup failed"; }
	local port
	port=$(start_server "$dir")
	echo "JG_PG_STANDBY_PORT=$port" >>"$BASE/env"
	JG_PG_STANDBY_PORT=$port
	# Synchronous only once it streams: before that every commit on the primary would wait.
	local n=0
	until [ "$(psql_node "$JG_PG_PORT" -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" -ge 1 ]; do
		n=$((n + 1))
		[ $n -lt 300 ] || die "the standby does not stream"
		sleep 0.1
	done
	psql_node "$JG_PG_PORT" -c "ALTER SYSTEM SET synchronous_standby_names = '*'" >/dev/null
	psql_node "$JG_PG_PORT" -c "SELECT pg_reload_conf()" >/dev/null
	n=0
	until [ "$(psql_node "$JG_PG_PORT" -c "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" -ge 1 ]; do
		n=$((n + 1))
		[ $n -lt 300 ] || die "the standby does not become synchronous"
		sleep 0.1
	done
	echo "JG_PG_STANDBY_PORT=$port"
}

cmd_promote() {
	load "$1"
	local port
	port=$(node_port standby)
	as_owner "$BIN/pg_ctl" -D "$BASE/standby" -w -t 60 promote >/dev/null
	# The trap: the promoted server keeps whatever synchronous_standby_names its configuration
	# says (a copy of the primary's) and, with no standby of its own, every commit would wait
	# forever.  An explicit empty value in postgresql.auto.conf overrides postgresql.conf too.
	psql_node "$port" -c "ALTER SYSTEM SET synchronous_standby_names = ''" >/dev/null
	psql_node "$port" -c "SELECT pg_reload_conf()" >/dev/null
	local n=0
	until [ -z "$(psql_node "$port" -c "SHOW synchronous_standby_names")" ] &&
		[ "$(psql_node "$port" -c "SELECT pg_is_in_recovery()")" = f ]; do
		n=$((n + 1))
		[ $n -lt 300 ] || die "the promoted standby still waits for a standby or is in recovery"
		sleep 0.1
	done
}

cmd_kill() {
	load "$1"
	node_port "${2:?node missing}" >/dev/null
	as_owner "$BIN/pg_ctl" -D "$BASE/$2" -m immediate -w -t 30 stop >/dev/null
}

cmd_revive() {
	load "$1"
	local node=${2:?node missing} port
	port=$(node_port "$node")
	as_owner "$BIN/pg_ctl" -D "$BASE/$node" -l "$BASE/$node.log" -w -t 60 \
		-o "-p $port -k $JG_PG_SOCKET" start >/dev/null ||
		{ tail -n 20 "$BASE/$node.log" >&2; die "$node did not start again"; }
}

cmd_role() {
	load "$1"
	local name=${2:?role name missing} file=${3:?password file missing} pw
	[[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || die "role name must match [a-z_][a-z0-9_]*"
	pw=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	(umask 077 && printf '%s\n' "$pw" >"$file")
	# The password goes on standard input, not on a command line.
	psql_node "$JG_PG_PORT" <<-EOF
		CREATE ROLE $name LOGIN PASSWORD '$pw' IN ROLE jg_password_roles;
		GRANT ALL ON SCHEMA public TO $name;
	EOF
}

cmd_sql() {
	load "$1"
	local port
	port=$(node_port "${2:?node missing}")
	psql_node "$port" -c "${3:?SQL missing}"
}

cmd_stop() {
	local base=${1:?BASE missing}
	[ -f "$base/env" ] || [ -d "$base/primary" ] || die "$base: not a cluster made by pg-cluster.sh"
	teardown "$base"
}

cmd_run() {
	local standby=0
	while [ $# -gt 0 ]; do
		case "$1" in
		--standby) standby=1; shift ;;
		--) shift; break ;;
		*) die "run: unknown argument $1" ;;
		esac
	done
	[ $# -gt 0 ] || die "run: no command"
	local out
	out=$(cmd_start --owner $$)
	BASE=$(sed -n 's/^JG_PG_BASE=//p' <<<"$out")
	trap 'teardown "$BASE"' EXIT
	trap 'exit 130' INT TERM
	[ $standby -eq 0 ] || cmd_standby "$BASE" >/dev/null
	set -a
	# shellcheck disable=SC1091
	. "$BASE/env"
	set +a
	local rc=0
	"$@" || rc=$?
	exit $rc
}

sub=${1:-}
shift || true
case "$sub" in
start) cmd_start "$@" ;;
standby) cmd_standby "$@" ;;
promote) cmd_promote "$@" ;;
kill) cmd_kill "$@" ;;
revive) cmd_revive "$@" ;;
role) cmd_role "$@" ;;
sql) cmd_sql "$@" ;;
stop) cmd_stop "$@" ;;
run) cmd_run "$@" ;;
*) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
