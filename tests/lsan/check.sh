#!/bin/sh
# Summarises the LeakSanitizer reports of `make e2e-lsan` (one file per process, from
# ASAN_OPTIONS=log_path) and fails when a leak or another sanitizer error has a frame in
# jitgate's code (src/ or agent/).
set -eu
dir=${1:?usage: check.sh REPORT_DIR}
files=$(find "$dir" -type f | sort)
nfiles=$(printf '%s\n' "$files" | grep -c . || true)
leaky=0 ours=0 errors=0
for f in $files; do
	if grep -q 'ERROR: LeakSanitizer' "$f"; then
		leaky=$((leaky + 1))
		if grep -Eq '#[0-9]+ 0x[0-9a-f]+ in [^ ]+ [^ ]*/(src|agent)/[^ ]+\.c' "$f"; then
			ours=$((ours + 1))
			echo "== leak in jitgate code: $f"
			cat "$f"
		fi
	elif grep -q 'ERROR: AddressSanitizer' "$f"; then
		errors=$((errors + 1))
		echo "== sanitizer error: $f"
		cat "$f"
	fi
done
echo "e2e-lsan: $nfiles sanitizer reports (a process writes one only when it has something to report); $leaky with leaks, $ours of them in jitgate code; $errors other sanitizer errors"
[ "$ours" -eq 0 ] && [ "$errors" -eq 0 ]
