#!/bin/sh
# tools/check-layers.sh - the layer rule of docs/architecture.md, checked on every #include.
#
# Each folder of src/ is one layer (or shares a layer with its peers); a file
# may include the headers of its own folder and of folders in lower layers,
# never of a higher layer or of a peer: no calls upward, no cycles.  A
# header's folder is the folder of the .c file that implements it
# (include/jitgate/NAME.h -> src/*/NAME.c), or the table below for headers
# whose implementation has another name.  Run by `make lint`; prints every
# offending include and exits 1.
set -eu
cd "$(dirname "$0")/.."

layers='
base 0
store 1
config 2
http 3
privacy 3
policy 4
audit 4
identity 5
catalog 5
notify 5
access 6
token 7
dataplane 7
api 8
web 9
cli 10
'
# headers whose implementation file has another name
owners='
app api
auth api
api_call api
cli cli
version cli
http http
store store
policy policy
audit audit
telemetry dataplane
probes dataplane
web web
'

layer_of() { printf '%s\n' "$layers" | awk -v f="$1" '$1 == f { print $2 }'; }

owner_of() {
	o=$(printf '%s\n' "$owners" | awk -v h="$1" '$1 == h { print $2 }')
	if [ -z "$o" ]; then
		c=$(ls src/*/"$1".c 2>/dev/null | head -n 1)
		[ -n "$c" ] && o=$(basename "$(dirname "$c")")
	fi
	printf '%s' "$o"
}

status=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for dir in src/*/; do
	folder=$(basename "$dir")
	mine=$(layer_of "$folder")
	if [ -z "$mine" ]; then
		echo "check-layers: src/$folder has no layer in tools/check-layers.sh" >&2
		status=1
		continue
	fi
	for f in "$dir"*.c "$dir"*.h; do
		[ -e "$f" ] || continue
		grep -n '^#include "jitgate/[a-z0-9_]*\.h"' "$f" | while IFS= read -r line; do
			n=${line%%:*}
			h=$(printf '%s' "$line" | sed 's/.*"jitgate\/\([a-z0-9_]*\)\.h".*/\1/')
			o=$(owner_of "$h")
			if [ -z "$o" ]; then
				echo "$f:$n: jitgate/$h.h has no implementing folder (add it to owners)"
				continue
			fi
			[ "$o" = "$folder" ] && continue
			theirs=$(layer_of "$o")
			if [ "$theirs" -ge "$mine" ]; then
				echo "$f:$n: $folder (layer $mine) includes jitgate/$h.h of $o (layer $theirs)"
			fi
		done
	done
done >"$out" 2>&1 || status=1
for f in include/jitgate/*.h; do
	h=$(basename "$f" .h)
	folder=$(owner_of "$h")
	if [ -z "$folder" ]; then
		echo "$f: no implementing folder (add it to owners in tools/check-layers.sh)"
		continue
	fi
	mine=$(layer_of "$folder")
	grep -n '^#include "jitgate/[a-z0-9_]*\.h"' "$f" | while IFS= read -r line; do
		n=${line%%:*}
		dep=$(printf '%s' "$line" | sed 's/.*"jitgate\/\([a-z0-9_]*\)\.h".*/\1/')
		o=$(owner_of "$dep")
		[ -n "$o" ] && [ "$o" != "$folder" ] || continue
		theirs=$(layer_of "$o")
		if [ "$theirs" -ge "$mine" ]; then
			echo "$f:$n: $folder (layer $mine) includes jitgate/$dep.h of $o (layer $theirs)"
		fi
	done
done >>"$out" 2>&1 || status=1
if [ -s "$out" ]; then
	cat "$out"
	status=1
fi
exit $status
