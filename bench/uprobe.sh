#!/usr/bin/env bash
# bench/uprobe.sh - what a jitgate-probe uprobe costs the probed program per call (thread CPU time),
# next to the same function unprobed in the same run: no probe, a uprobe without arguments, one
# reading an i64 and a string, and a uprobe + uretprobe reading both.  bench/uprobe.mjs does the
# work with its own jitgate and development IdP (it deploys the probes through a grant, as an
# engineer would); the run's jitgate is not used.  Needs root (uprobes) and build/jitgate-probe,
# build/native_demo.  See docs/performance.md, "Native probes (uprobes)".
set -euo pipefail
. "$REPO/bench/lib.sh"

[ "$(id -u)" -eq 0 ] || bench_die "uprobe: attaching uprobes needs root"
for b in jitgate-probe native_demo; do
  [ -x "$REPO/build/$b" ] || bench_die "$REPO/build/$b is missing: run 'make build'"
done
bench_log "uprobe: ${BENCH_UPROBE_CALLS:-2000} calls per run, ${BENCH_RUNS:-3} runs per case"
mkdir -p "$BENCH_OUT"
node "$REPO/bench/uprobe.mjs" 2>"$BENCH_TMP/uprobe.log" >"$BENCH_TMP/uprobe.json" ||
  bench_die "uprobe: bench/uprobe.mjs failed (see $BENCH_TMP/uprobe.log)"
{
  printf '\nnative probes: CPU time of the probed thread per call of charge() (median of runs)\n'
  printf '%-40s %14s %14s %14s\n' case "unprobed ns" "probed ns" "overhead ns"
  jq -r '[.case, .unprobed_ns, .probed_ns, .overhead_ns] | @tsv' "$BENCH_TMP/uprobe.json" |
    while IFS=$'\t' read -r c u p o; do printf '%-40s %14s %14s %14s\n' "$c" "$u" "$p" "$o"; done
  grep -h 'CPU per trap here' "$BENCH_TMP/uprobe.log" | head -1 | sed 's/^jitgate-probe: /(jitgate-probe at start-up: /; s/$/)/'
} | tee "$BENCH_OUT/uprobe.tsv"
