#!/bin/sh
# SPDX-License-Identifier: MIT
# The mpi backend of spool-compare, through the program itself (its ranks
# are spawned from its own executable): usage: compare_mpi.sh PROGRAM CASE
#
#   answers  fib and hash on seq and mpi, two runs (two spawns in one
#            program), then 16 KiB messages: exit 0, a JSON line per
#            backend with "backend":"mpi", and mpi's answer equal to seq's
#   mixed    the mixed workload on seq, procs and mpi: the client's
#            requests timed while the ranks hash, which stop when asked
#   convoy   the convoy on procs and mpi: the echo beside 0 and 1 CPU
#            jobs on a rank, the same echoed bytes as procs
#   stuck    a spawn that overstays its limit (CMP_MPI_SPAWN_LIMIT_MS=1):
#            the mpi rows fail and say why, the other backends still run,
#            and the program ends
#   rankfail rank 0 of every spawn fails on its first task
#            (CMP_MPI_RANK_FAIL_AFTER=0, a seam of the rank's loop): the
#            mpi rows fail and name the rank, the other backends still
#            run, and the program ends
#
# Open MPI 4.1 over an external PMIx 4 (Debian 12's) now and then never
# returns from MPI_Comm_spawn; the program gives up on MPI after 20 s and
# says so, and these cases then skip (77) with that reason instead of
# failing: it is MPI's launcher, not the backend (docs/compare.md).
#
# The answers are compared here as well as by the program (which fails a
# backend whose answer differs from seq's), so that a wrong answer fails
# the test even if that check were lost.
set -u
prog=$1
case=$2

fail() {
	echo "compare_mpi.sh $case: $*" >&2
	exit 1
}

# run ARGS...: runs the program with --json --quiet; its stdout in $out,
# its exit status in $rc. Fails unless it is 0; skips when a spawn never
# returned.
run() {
	run_any "$@"
	if [ "$rc" != 0 ]; then
		if printf '%s\n' "$out" | grep -q 'MPI_Comm_spawn did not return'; then
			echo "skipped: MPI_Comm_spawn never returned (Open MPI's" \
				"launcher, see the top of this script): $out"
			exit 77
		fi
		fail "spool-compare $* exited with $rc: $out"
	fi
}

run_any() {
	out=$("$prog" --part 2 --json --quiet "$@")
	rc=$?
}

# field LINE NAME: the value of "NAME" in a JSON line (string or number).
field() {
	printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}

# same_answers WORKLOAD BACKEND...: each backend's line for the workload
# exists and carries seq's checksum.
same_answers() {
	w=$1
	shift
	seq_line=$(printf '%s\n' "$out" | grep "\"bench\":\"lesson_$w\"" |
		grep '"backend":"seq"')
	want=$(field "$seq_line" checksum)
	[ -n "$want" ] || fail "$w: no seq line in: $out"
	for b in "$@"; do
		line=$(printf '%s\n' "$out" | grep "\"bench\":\"lesson_$w\"" |
			grep "\"backend\":\"$b\"")
		[ -n "$line" ] || fail "$w: no line with \"backend\":\"$b\" in: $out"
		got=$(field "$line" checksum)
		[ "$got" = "$want" ] ||
			fail "$w on $b: checksum '$got', seq's '$want'"
		printf '%s\n' "$line" | grep -q '"error"' &&
			fail "$w on $b failed: $line"
	done
	return 0
}

case $case in
answers)
	run --workload fib,hash --backend seq,mpi --runs 2 --tasks 4 \
		--fib 20 --hash-kib 4 --hash-rounds 4
	same_answers fib mpi
	same_answers hash mpi
	for w in fib hash; do
		line=$(printf '%s\n' "$out" | grep "lesson_$w" |
			grep '"backend":"mpi"')
		[ "$(field "$line" runs)" = 2 ] || fail "$w: not 2 runs: $line"
	done
	# Messages above MPI's eager limit (sent ahead of the rank's need).
	run --workload fib --backend seq,mpi --runs 1 --tasks 8 --fib 15 \
		--threads 2 --pickle-bytes 16384
	same_answers fib mpi
	;;
mixed)
	run --workload mixed --backend seq,procs,mpi --runs 1 --threads 2 \
		--requests 4
	same_answers mixed procs mpi
	line=$(printf '%s\n' "$out" | grep '"backend":"mpi"')
	[ -n "$(field "$line" p50_ms)" ] || fail "mixed: no p50_ms: $line"
	;;
convoy)
	run --workload convoy --backend procs,mpi --runs 1 --round-trips 5 \
		--cpu-threads 1 --switch-interval 1
	want=$(field "$(printf '%s\n' "$out" | grep '"backend":"procs"' |
		head -n 1)" checksum)
	[ -n "$want" ] || fail "convoy: no procs line in: $out"
	for k in 0 1; do
		line=$(printf '%s\n' "$out" | grep '"backend":"mpi"' |
			grep "\"cpu_threads\":$k,")
		[ -n "$line" ] || fail "convoy: no mpi row beside $k: $out"
		[ "$(field "$line" checksum)" = "$want" ] ||
			fail "convoy: mpi echoed other bytes: $line"
		[ -n "$(field "$line" p50_ms)" ] || fail "convoy: no p50: $line"
	done
	;;
stuck)
	out=$(CMP_MPI_SPAWN_LIMIT_MS=1 "$prog" --part 2 --json --quiet \
		--workload fib,hash --backend seq,procs,mpi --runs 2 --tasks 4 \
		--fib 15 --hash-kib 4 --hash-rounds 4)
	rc=$?
	[ "$rc" = 1 ] || fail "exit status $rc, not 1: $out"
	for w in fib hash; do
		line=$(printf '%s\n' "$out" | grep "lesson_$w" |
			grep '"backend":"mpi"')
		printf '%s\n' "$line" | grep -q '"error":".*MPI_Comm_spawn' ||
			fail "$w: no error naming MPI_Comm_spawn: $line"
		printf '%s\n' "$line" | grep -q '"speedup"' &&
			fail "$w: a failed row has a speedup: $line"
	done
	printf '%s\n' "$out" | grep "lesson_fib" | grep -q \
		'"error":".*did not return within 0.001 s' ||
		fail "fib: the first failure does not give the limit: $out"
	same_answers fib procs
	same_answers hash procs
	;;
rankfail)
	out=$(CMP_MPI_RANK_FAIL_AFTER=0 "$prog" --part 2 --json --quiet \
		--workload fib,hash --backend seq,procs,mpi --runs 2 --tasks 8 \
		--threads 2 --fib 15 --hash-kib 4 --hash-rounds 4)
	rc=$?
	if printf '%s\n' "$out" | grep -q 'MPI_Comm_spawn did not return'; then
		echo "skipped: MPI_Comm_spawn never returned (Open MPI's" \
			"launcher, see the top of this script): $out"
		exit 77
	fi
	[ "$rc" = 1 ] || fail "exit status $rc, not 1: $out"
	for w in fib hash; do
		line=$(printf '%s\n' "$out" | grep "lesson_$w" |
			grep '"backend":"mpi"')
		[ -n "$line" ] || fail "$w: no mpi row in: $out"
		printf '%s\n' "$line" |
			grep -q '"error":"run 1 failed: [^"]*rank 0 ended before its result: SPOOL_EINVAL"' ||
			fail "$w: no error naming rank 0's failure: $line"
		printf '%s\n' "$line" | grep -q '"speedup"' &&
			fail "$w: a failed row has a speedup: $line"
	done
	same_answers fib procs
	same_answers hash procs
	;;
*)
	fail "unknown case"
	;;
esac
echo "compare_mpi.sh $case: ok"
