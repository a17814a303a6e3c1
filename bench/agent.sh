#!/usr/bin/env bash
# bench/agent.sh - what the reference agent costs per call of a probed function,
# in one process on one core: jga_hit() with no probe, with a probe whose
# condition is false, with a probe that captures, and jga_enabled() with and
# without a probe, next to a bare (noinline) call of a function that does
# nothing, measured in the same rounds (bench/agent_bench.c says how).  The
# ratio column is each cost over the bare call's.  No goal: the figures say what
# instrumenting a function costs, and when to put jga_enabled() in front of
# building the arguments.
set -euo pipefail
. "$REPO/bench/lib.sh"

AB="$REPO/build/bench/agent_bench"
[ -x "$AB" ] || bench_die "$AB is missing: run 'make build/bench/agent_bench'"
rounds=${BENCH_AGENT_ROUNDS:-7}
bench_log "agent: jga_hit / jga_enabled against a bare call (${BENCH_SECONDS}s, ${rounds} rounds, one core)"
out=$(taskset -c 0 "$AB" "$BENCH_SECONDS" "$rounds")
val() { awk -v k="$1" '$1 == k {print $2}' <<<"$out"; }
fast() { awk -v k="$1" '$1 == k {print $3}' <<<"$out"; }
bare=$(val bare)
share=$(awk '$1 == "cpu_share" {print $2}' <<<"$out")
captured=$(awk '$1 == "captured" {print $2 " captured, " $4 " skipped, " $6 " stopped by the CPU guard"}' <<<"$out")
mkdir -p "$BENCH_OUT"
{
  printf '\nreference agent, ns per call of the probed function, one core\n'
  printf '%-52s %12s %12s %10s\n' measure ns/call fastest ratio
  row() { printf '%-52s %12.2f %12.2f %10.1f\n' "$1" "$(val "$2")" "$(fast "$2")" "$(echo "$(val "$2") / $bare" | bc -l)"; }
  row "bare call (noinline, does nothing)" bare
  row "jga_enabled(), no probe installed" enabled_none
  row "jga_hit(), no probe installed" hit_none
  row "jga_enabled(), a probe on the function" enabled_installed
  row "jga_hit(), a probe whose condition is false" hit_nomatch
  row "jga_hit(), a probe that captures the call" hit_capture
  row "jga_hit(), a metric probe (histogram of amount)" hit_metric
  row "building the 3 arguments (json_pack + decref)" build_args
  echo "(ratio: ns/call over the bare call's; ns/call: median over rounds of each round's median"
  echo " chunk; fastest: the fastest chunk; captures: $captured; the thread was on a CPU"
  echo " ${share} of the wall time: a busy host inflates the capture figure most)"
} | tee "$BENCH_OUT/agent.tsv"
