#!/bin/sh
# SPDX-License-Identifier: MIT
# expect_job_abort.sh <seconds> <mpiexec command...>: runs the command (a
# job in which a rank kills itself, without --enable-recovery) and passes
# when it ends on its own within <seconds> with a nonzero status and
# mpirun's message that a process was killed: Open MPI's documented
# answer to a lost rank, which spool-mpi cannot change, but which must
# not become a hang.
limit=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout -s KILL "$limit" "$@" >"$out" 2>&1
rc=$?
cat "$out"
if [ "$rc" -eq 137 ] && ! grep -q 'exited on signal' "$out"; then
	echo "expect_job_abort: FAILED: the job did not end within ${limit}s (a hang)"
	exit 1
fi
if [ "$rc" -eq 0 ]; then
	echo "expect_job_abort: FAILED: the job exited 0; expected Open MPI to abort it"
	exit 1
fi
if ! grep -q 'exited on signal 9' "$out"; then
	echo "expect_job_abort: FAILED: no 'exited on signal 9' message from mpirun"
	exit 1
fi
echo "expect_job_abort: the job ended with status $rc and mpirun's message, as documented"
exit 0
