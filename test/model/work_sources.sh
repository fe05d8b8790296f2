#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The pool's work sources are listed three times, and the three lists must
# agree, or a source added to the pool is missing from the parking
# protocol's re-check (a lost wake-up) or from its model (a proof of
# something else):
#   1. the proof comment at the top of src/pool/park.c, one line
#      " *   work-source: <name> ..." per source;
#   2. spool__pool_may_have_work() in park.c, which P3 calls: one marker
#      comment "/* work-source: <name> */" per source, each followed by a
#      `return true;` of its own before the next marker (so that a new
#      `return true;` without a marker is caught too);
#   3. may_have_work in test/model/park.pml: one marker per source.
#
# usage: work_sources.sh <repository root>
#        work_sources.sh --self-test <repository root>
#            checks that this script fails on copies of the files with one
#            source dropped from each list in turn, and with a source added
#            to the C function alone, marked or not.
set -euo pipefail

NAME='[a-z_][a-z0-9_]*'

# The names in the first comment block of park.c.
comment_sources() {
	awk 'NR == 1, /^ \*\// { print }' "$1" |
		sed -n "s/^ \*[[:space:]]*work-source: \($NAME\).*/\1/p" | sort
}

# The body of a function or inline: from the line matching $2 to the next
# line that is just "}".
body_of() {
	awk -v start="$2" '$0 ~ start { on = 1 } on { print } on && /^}$/ { exit }' "$1"
}

markers() {
	sed -n "s|.*/\* work-source: \($NAME\) \*/.*|\1|p" | sort
}

# check <root>: prints the verdict; returns 1 when the lists differ.
check() {
	local root=$1
	local park=$root/src/pool/park.c model=$root/test/model/park.pml
	local f
	for f in "$park" "$model"; do
		[[ -r $f ]] || {
			echo "work_sources: cannot read $f"
			return 1
		}
	done
	local fn
	fn=$(body_of "$park" '^bool spool__pool_may_have_work\(')
	if [[ -z $fn ]]; then
		echo "work_sources: no spool__pool_may_have_work() in $park"
		return 1
	fi
	local in_comment in_c in_model
	in_comment=$(comment_sources "$park")
	in_c=$(markers <<<"$fn")
	in_model=$(body_of "$model" '^inline may_have_work\(' | markers)
	local bad=0

	# Each marker in the C function owns exactly one `return true;`.
	local rule
	rule=$(awk -v re="/\\\\* work-source: $NAME \\\\*/" '
		$0 ~ re { if (pending) { print "marker without a return true before line " NR }
			  pending = 1; next }
		/^[[:space:]]*return true;/ {
			if (!pending) print "a return true; without a work-source marker (body line " NR ")"
			pending = 0 }
		END { if (pending) print "a marker without a return true; after it" }' <<<"$fn")
	if [[ -n $rule ]]; then
		while IFS= read -r line; do
			echo "work_sources: spool__pool_may_have_work(): $line"
		done <<<"$rule"
		bad=1
	fi

	if [[ -z $in_comment ]]; then
		echo "work_sources: no ' *   work-source: <name>' lines in park.c's first comment"
		bad=1
	fi
	# Every name in any list must be in all three.
	local all name
	all=$(printf '%s\n' "$in_comment" "$in_c" "$in_model" | sed '/^$/d' | sort -u)
	for name in $all; do
		grep -qx "$name" <<<"$in_comment" || {
			echo "work_sources: '$name' is missing from the list in park.c's proof comment"
			bad=1
		}
		grep -qx "$name" <<<"$in_c" || {
			echo "work_sources: '$name' is missing from spool__pool_may_have_work() (no marker)"
			bad=1
		}
		grep -qx "$name" <<<"$in_model" || {
			echo "work_sources: '$name' is missing from may_have_work in test/model/park.pml"
			bad=1
		}
	done
	if ((bad)); then
		return 1
	fi
	echo "work_sources: $(tr '\n' ' ' <<<"$all")(park.c comment, spool__pool_may_have_work, park.pml agree)"
}

# expect_fail <what> <root>: the check must fail on root.
expect_fail() {
	local what=$1 root=$2 out line
	if out=$(check "$root"); then
		echo "self-test: FAILED to catch: $what"
		return 1
	fi
	echo "self-test: caught: $what"
	while IFS= read -r line; do
		echo "    $line"
	done <<<"$out"
}

self_test() {
	local root=$1 tmp rc=0
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	# fresh <dir>: a copy of the two files under <dir>.
	fresh() {
		mkdir -p "$1/src/pool" "$1/test/model"
		cp "$root/src/pool/park.c" "$1/src/pool/park.c"
		cp "$root/test/model/park.pml" "$1/test/model/park.pml"
	}
	fresh "$tmp/ok"
	check "$tmp/ok" >/dev/null || {
		echo "self-test: the unchanged files fail the check"
		check "$tmp/ok" || true
		return 1
	}
	local names
	names=$(comment_sources "$root/src/pool/park.c")
	local n
	for n in $names; do
		fresh "$tmp/c-$n"
		sed -i "/^ \*[[:space:]]*work-source: $n\b/d" "$tmp/c-$n/src/pool/park.c"
		expect_fail "'$n' dropped from park.c's proof comment" "$tmp/c-$n" || rc=1

		fresh "$tmp/f-$n"
		sed -i "\|^\t/\* work-source: $n \*/|d" "$tmp/f-$n/src/pool/park.c"
		expect_fail "'$n' dropped from spool__pool_may_have_work()" "$tmp/f-$n" || rc=1

		fresh "$tmp/m-$n"
		sed -i "\|/\* work-source: $n \*/|d" "$tmp/m-$n/test/model/park.pml"
		expect_fail "'$n' dropped from park.pml" "$tmp/m-$n" || rc=1
	done
	# A new source in the C function alone: unmarked, then marked.
	local add='/^bool spool__pool_may_have_work(/,/^}$/ s|^\treturn false;|'
	fresh "$tmp/new-unmarked"
	sed -i "$add\tif (p->timers_due)\n\t\treturn true;\n\treturn false;|" \
		"$tmp/new-unmarked/src/pool/park.c"
	expect_fail "a new source in spool__pool_may_have_work() without a marker" \
		"$tmp/new-unmarked" || rc=1
	fresh "$tmp/new-marked"
	sed -i "$add\t/* work-source: timers */\n\tif (p->timers_due)\n\t\treturn true;\n\treturn false;|" \
		"$tmp/new-marked/src/pool/park.c"
	expect_fail "a new marked source in spool__pool_may_have_work() only" \
		"$tmp/new-marked" || rc=1
	((rc == 0)) && echo "self-test: every change was caught"
	return "$rc"
}

case ${1:-} in
--self-test)
	self_test "${2:?usage: work_sources.sh --self-test <root>}"
	;;
"" | -*)
	echo "usage: work_sources.sh [--self-test] <repository root>" >&2
	exit 2
	;;
*)
	check "$1"
	;;
esac
