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
witness 5
access 6
report 6
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

http http
store store
policy policy
audit audit
telemetry dataplane
probes dataplane
web web
'

# One pass: the tables, the implementing folder of every header name (the
# first src/*/NAME.c, as the glob sorts), the project headers and every
# #include "jitgate/..." line go to one awk program, so a run over the whole
# tree takes a fraction of a second.
files=$(for dir in src/*/; do
	for f in "$dir"*.c "$dir"*.h; do
		[ -e "$f" ] && printf '%s\n' "$f"
	done
done)
{
	printf '%s\n' "$layers" | awk 'NF == 2 { print "L", $1, $2 }'
	printf '%s\n' "$owners" | awk 'NF == 2 { print "O", $1, $2 }'
	for c in src/*/*.c; do
		n=${c##*/}
		d=${c%/*}
		printf 'C %s %s\n' "${n%.c}" "${d##*/}"
	done
	for dir in src/*/; do
		d=${dir%/}
		printf 'D %s\n' "${d##*/}"
	done
	for f in include/jitgate/*.h; do
		printf 'H %s\n' "$f"
	done
	# shellcheck disable=SC2086 # the file names have no blanks
	grep -Hn '^#include "jitgate/[a-z0-9_]*\.h"' $files include/jitgate/*.h | sed 's/^/I /'
} | awk '
function owner(h) { return (h in own) ? own[h] : ((h in impl) ? impl[h] : "") }
function hdr(line) { sub(/^[^"]*"jitgate\//, "", line); sub(/\.h".*$/, "", line); return line }
$1 == "L" { layer[$2] = $3; next }
$1 == "O" { own[$2] = $3; next }
$1 == "C" { if (!($2 in impl)) impl[$2] = $3; next }
$1 == "D" {
	if (!($2 in layer)) {
		print "check-layers: src/" $2 " has no layer in tools/check-layers.sh" > "/dev/stderr"
		bad = 1
	}
	next
}
$1 == "H" {
	h = $2; sub(/^.*\//, "", h); sub(/\.h$/, "", h)
	if (owner(h) == "") {
		print $2 ": no implementing folder (add it to owners in tools/check-layers.sh)"
		bad = 1
	}
	next
}
$1 == "I" {
	rest = substr($0, 3)
	split(rest, part, ":")
	f = part[1]; n = part[2]; h = hdr(rest)
	if (f ~ /^include\/jitgate\//) {
		me = f; sub(/^.*\//, "", me); sub(/\.h$/, "", me)
		folder = owner(me)
		o = owner(h)
		if (folder == "" || o == "" || o == folder) next
	} else {
		folder = f; sub(/^src\//, "", folder); sub(/\/.*$/, "", folder)
		if (!(folder in layer)) next
		o = owner(h)
		if (o == "") {
			print f ":" n ": jitgate/" h ".h has no implementing folder (add it to owners)"
			bad = 1
			next
		}
		if (o == folder) next
	}
	if (layer[o] + 0 >= layer[folder] + 0) {
		print f ":" n ": " folder " (layer " layer[folder] ") includes jitgate/" h ".h of " o " (layer " layer[o] ")"
		bad = 1
	}
}
END { exit bad }
'
