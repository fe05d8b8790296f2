// SPDX-License-Identifier: MIT

// Command spool-peer-go is Go's side of two benchmark suites, driven over a
// pipe by compare/pool/peer_ext.c and compare/loop/peer_ext.c.
//
// It is started as `spool-peer-go SUITE BENCH THREADS N` with a pipe on
// stdin and stdout. It prepares the workload for sizes up to N (untimed),
// writes "ready" (or "error: <what>" and exits), then answers each line
// "run M" with "ok <answer> <cpu seconds>" or "error: <what>"; the driver
// times the span from its request to the reply and checks the answer. The
// CPU seconds are the process's own over the run (getrusage, every
// thread). End of input ends the program. GOMAXPROCS is THREADS: the
// pool suite's workers, 1 for the loop suite (one thread runs goroutines,
// the counterpart of one event loop).
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// fail reports a set-up error to the driver and exits.
func fail(format string, a ...interface{}) {
	fmt.Printf("error: "+format+"\n", a...)
	os.Exit(1)
}

// cpuSeconds is the CPU time used so far by every thread of the process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	tv := func(t syscall.Timeval) float64 {
		return float64(t.Sec) + float64(t.Usec)*1e-6
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

// serve writes "ready", then answers every "run M" with run(M).
func serve(max int64, run func(m int64) (int64, error)) {
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		line := in.Text()
		m, err := strconv.ParseInt(strings.TrimPrefix(line, "run "), 10, 64)
		if !strings.HasPrefix(line, "run ") || err != nil || m < 0 || m > max {
			fmt.Fprintf(out, "error: bad request %q (want run M, 0 <= M <= %d)\n", line, max)
		} else {
			c0 := cpuSeconds()
			answer, err := run(m)
			c1 := cpuSeconds()
			if err != nil {
				fmt.Fprintf(out, "error: %v\n", err)
			} else {
				fmt.Fprintf(out, "ok %d %.6f\n", answer, c1-c0)
			}
		}
		out.Flush()
	}
}

func main() {
	if len(os.Args) != 5 {
		fail("usage: spool-peer-go SUITE BENCH THREADS N")
	}
	suite, bench := os.Args[1], os.Args[2]
	threads, err1 := strconv.Atoi(os.Args[3])
	n, err2 := strconv.ParseInt(os.Args[4], 10, 64)
	if err1 != nil || err2 != nil || threads < 1 || n < 0 {
		fail("THREADS must be >= 1 and N >= 0")
	}
	runtime.GOMAXPROCS(threads)
	var run func(int64) (int64, error)
	switch suite {
	case "pool":
		run = poolBench(bench, n)
	case "loop":
		run = loopBench(bench, n)
	default:
		fail("no suite %s", suite)
	}
	serve(n, run)
}
