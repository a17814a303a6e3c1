#!/usr/bin/env bash
# Starts the development identity provider and jitgate (after deploy/dev-setup.sh);
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p var/dev-idp
chmod 700 var/dev-idp
node deploy/dev-idp/server.mjs > var/dev-idp/server.log 2>&1 &
idp=$!
# jitgate runs in the foreground (Ctrl-C reaches it and it stops gracefully); the provider goes with it.
trap 'kill -TERM "$idp" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  curl -sf -o /dev/null http://127.0.0.1:9000/.well-known/openid-configuration && break
  kill -0 "$idp" 2>/dev/null || { cat var/dev-idp/server.log >&2; exit 1; }
  sleep 0.1
done

cat <<MSG

  jitgate:               https://127.0.0.1:8443   (development certificate: var/tls/cert.pem)
  identity provider:     http://127.0.0.1:9000    (development only; users below, any password)

  Users: alice (payments-eng)  bob (payments-leads)  carol (payments-leads, privacy)
         grace (privacy)  dave (contractors, payments-eng)  erin (auditors)
         frank (sre-oncall)  oscar (jitgate-admins)

  Web pages (sign in):     https://127.0.0.1:8443/
  A token for curl:        build/jitgate login --issuer http://127.0.0.1:9000 --client-id jitgate-cli \\
                               --audience https://127.0.0.1:8443
                           curl --cacert var/tls/cert.pem -H "Authorization: Bearer \$(cat ~/.config/jitgate/token)" \\
                               https://127.0.0.1:8443/v1/me
  Health:                  curl --cacert var/tls/cert.pem https://127.0.0.1:8443/healthz
  Demo telemetry:          payment-service fails since payment-accounts 2.4.0 was deployed;
                           README.md "Finding a root cause" walks through it with curl

  Configuration: var/jitgate.yaml    Database: var/jitgate.db    Stop: Ctrl-C

MSG
build/jitgate serve -c var/jitgate.yaml
