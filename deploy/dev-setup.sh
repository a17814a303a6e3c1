#!/usr/bin/env bash
# Creates the development environment under var/ (git-ignored): a TLS
# certificate for 127.0.0.1 and localhost, a configuration file, the SQLite
# databases (state and telemetry) with every migration applied, and the demo
# telemetry of payment-service (jitgate demo seed; fresh on every run).
# Existing files are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
mkdir -p var/tls var/keys

if [ ! -f var/tls/key.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 \
    -subj "/CN=jitgate development" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout var/tls/key.pem -out var/tls/cert.pem 2>/dev/null
  chmod 600 var/tls/key.pem
  chmod 644 var/tls/cert.pem
  echo "dev-setup: created the development TLS certificate var/tls/cert.pem"
fi

if [ ! -f var/jitgate.yaml ]; then
  cat > var/jitgate.yaml <<'YAML'
# Development configuration written by deploy/dev-setup.sh.  Relative paths
# are relative to this file.  See docs/operations.md for every key.
listen: "127.0.0.1:8443"
public_url: "https://127.0.0.1:8443"
log_level: info
tls:
  cert_file: tls/cert.pem
  key_file: tls/key.pem
database:
  url: "sqlite://jitgate.db"
migrations_dir: ../migrations
policy_dir: ../policies
key_dir: keys
audit:
  sink_dir: checkpoints          # stands in for another volume in development
oidc:                            # the development provider of deploy/dev-idp (started by make run)
  issuer: "http://127.0.0.1:9000"
  client_id: jitgate
  allowed_clients: [jitgate, jitgate-cli]   # whose access tokens jitgate accepts (deploy/dev-idp)
  client_secret_file: dev-idp/client-secret
  audience: "https://127.0.0.1:8443"
YAML
  echo "dev-setup: wrote var/jitgate.yaml"
fi

# a configuration written before oidc.allowed_clients was required would no longer load
if ! grep -q '^  allowed_clients:' var/jitgate.yaml && grep -q '^  client_id: jitgate$' var/jitgate.yaml; then
  sed -i 's/^  client_id: jitgate$/&\n  allowed_clients: [jitgate, jitgate-cli]/' var/jitgate.yaml
  echo "dev-setup: added oidc.allowed_clients: [jitgate, jitgate-cli] to var/jitgate.yaml"
fi

mkdir -p var/checkpoints

build/jitgate migrate -c var/jitgate.yaml
if ! ls var/keys/checkpoint-*.pem >/dev/null 2>&1; then
  build/jitgate keys generate -c var/jitgate.yaml
fi
# a var/ from before pii keys (the audit log's markers), cursor keys (paging cursors) or the
# audit-state key (start from the verified state) or the session-token key (the debugging pages)
# gets the missing kind (docs/operations.md, "Keys")
for kind in pii cursor audit-state session-token; do
  if ! ls "var/keys/$kind-"*.pem >/dev/null 2>&1; then
    build/jitgate keys generate --kind "$kind" -c var/jitgate.yaml
  fi
done

# The seed's story (README: "Finding a root cause"): payment-service failing
# since a deploy of payment-accounts, three hops down.  Timestamps are relative
# to now, so every run adds a fresh set.
build/jitgate demo seed -c var/jitgate.yaml
