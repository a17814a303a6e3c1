#!/usr/bin/env bash
# Starts jitgate for development (after deploy/dev-setup.sh) and stops it on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

cat <<MSG

  jitgate is starting on https://127.0.0.1:8443 (development certificate: var/tls/cert.pem)

  Try:   curl --cacert var/tls/cert.pem https://127.0.0.1:8443/healthz
         curl --cacert var/tls/cert.pem https://127.0.0.1:8443/readyz
         curl --cacert var/tls/cert.pem https://127.0.0.1:8443/metrics

  Configuration: var/jitgate.yaml    Database: var/jitgate.db    Stop: Ctrl-C

MSG
exec build/jitgate serve -c var/jitgate.yaml
