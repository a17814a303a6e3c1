#!/bin/sh
# fuzz/run.sh BIN_DIR SECONDS TARGET... - run by `make fuzz` and `make test`.
#
# For each target: replay every input of fuzz/regressions/<target>/ (each
# once crashed it; each must pass now), then fuzz for SECONDS from the
# checked-in seeds of fuzz/corpus/<target>/.  New inputs go to
# build/fuzz/work/<target>/ (the checked-in corpus is only read), a crash
# to build/fuzz/crashes/<target>-crash-<sha1>.  Exits non-zero on the first
# failing target, after showing the end of its log.
set -eu
bin_dir=$1
secs=$2
shift 2
out=build/fuzz
mkdir -p "$out/work" "$out/crashes" "$out/logs"

for t in "$@"; do
	bin=$bin_dir/$t
	log=$out/logs/$t.log
	: >"$log"
	if [ -d "fuzz/regressions/$t" ] && [ -n "$(ls -A "fuzz/regressions/$t")" ]; then
		if ! "$bin" fuzz/regressions/"$t"/* >>"$log" 2>&1; then
			echo "fuzz: $t: a regression input fails again (log: $log)" >&2
			tail -n 40 "$log" >&2
			exit 1
		fi
	fi
	mkdir -p "$out/work/$t"
	dict=""
	[ -f "fuzz/dict/$t.dict" ] && dict="-dict=fuzz/dict/$t.dict"
	# shellcheck disable=SC2086
	if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/crashes/$t-" $dict "$out/work/$t" "fuzz/corpus/$t" >>"$log" 2>&1; then
		echo "fuzz: $t: FAILED (log: $log; the input is in $out/crashes/)" >&2
		tail -n 40 "$log" >&2
		exit 1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
	echo "fuzz: $t: ok (${runs:-?} runs in ${secs}s, $cov)"
done
