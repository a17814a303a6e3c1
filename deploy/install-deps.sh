#!/usr/bin/env bash
# Installs what jitgate needs to build, test and run on Debian 12: the Debian
# packages below and the npm packages of package.json (from its lock file).
# Idempotent and quiet when everything is present; run by `make deps`.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(
  build-essential pkg-config curl ca-certificates openssl
  libssl-dev libjwt-dev libmicrohttpd-dev libsqlite3-dev sqlite3
  liboauth2-dev libcjose-dev libjansson-dev libyaml-dev libcmocka-dev zlib1g-dev
  nodejs chromium
  faketime valgrind
  clang-14 libclang-rt-14-dev
  libbpf-dev bpftool
  clang-format cppcheck clang-tidy
  libpq-dev postgresql-15 postgresql-contrib
)
# faketime: the clock-step fault tests (tests/e2e/faults.test.mjs) run jitgate under libfaketime.
# valgrind: a start-up failure test there runs jitgate under helgrind (locks destroyed uninitialised).
# clang-14 and libclang-rt-14-dev: the libFuzzer targets of fuzz/ (make fuzz, and briefly make test).
# libbpf-dev and bpftool (with clang-14): jitgate-probe, whose BPF program is compiled with clang -target bpf
# against the kernel's BTF and embedded through a bpftool skeleton at build time (probe/, docs/agents.md).
# clang-format, cppcheck and clang-tidy (14, with clang-14): make lint, the first step of make test.
# libpq-dev: the PostgreSQL store (src/store/store_pg.c) links libpq.  postgresql-15 and postgresql-contrib:
# the server binaries and the postgres system user for the throwaway clusters the tests start
# (tests/lib/pg-cluster.sh); the tests never use a cluster the package itself may set up.
# Benchmarks only (make bench): wrk and nginx-light, installed by bench/run.sh.

missing=()
for p in "${debs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# npm ships inside some nodejs builds; only ask for Debian's npm when it is absent.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages for the end-to-end tests and the development identity provider.
stamp=node_modules/.jitgate-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "install-deps: installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  mkdir -p node_modules
  cp package-lock.json "$stamp"
fi
