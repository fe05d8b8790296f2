// SPDX-License-Identifier: MIT

package main

// spool-bench-pool's workloads (compare/pool/peer.h) as a Go program
// writes them: a goroutine per task, a sync.WaitGroup per parent, each
// child writing its result into its parent's array. fib starts a goroutine
// for each of its two calls (one goroutine per call, no cut-off); skynet
// one per child of a node (ten); nqueens one per safe placement. Go has no
// pool that a thread outside it submits to, nor a parallel loop, so submit,
// for_sum and for_map are not run (compare/pool/peer_ext.c says why).

import "sync"

func fib(n int64) int64 {
	if n < 2 {
		return n
	}
	var r [2]int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { r[0] = fib(n - 1); wg.Done() }()
	go func() { r[1] = fib(n - 2); wg.Done() }()
	wg.Wait()
	return r[0] + r[1]
}

// skynet sums the leaves num .. num+size-1.
func skynet(num, size int64) int64 {
	if size == 1 {
		return num
	}
	var r [10]int64
	var wg sync.WaitGroup
	size /= 10
	wg.Add(10)
	for i := int64(0); i < 10; i++ {
		go func(i int64) {
			r[i] = skynet(num+i*size, size)
			wg.Done()
		}(i)
	}
	wg.Wait()
	var sum int64
	for _, x := range r {
		sum += x
	}
	return sum
}

const nqueensMax = 16

// board: queens in rows 0 .. row-1; a bit per column taken and per
// diagonal (shifted to this row), as in peer.h.
type board struct {
	n, row       uint32
	cols, d1, d2 uint32
}

func nqueens(s board) int64 {
	if s.row == s.n {
		return 1
	}
	free := ^(s.cols | s.d1 | s.d2) & (uint32(1)<<s.n - 1)
	var r [nqueensMax]int64
	var wg sync.WaitGroup
	k := 0
	for free != 0 {
		bit := free & -free
		free ^= bit
		c := board{s.n, s.row + 1, s.cols | bit, (s.d1 | bit) << 1, (s.d2 | bit) >> 1}
		wg.Add(1)
		go func(k int) {
			r[k] = nqueens(c)
			wg.Done()
		}(k)
		k++
	}
	wg.Wait()
	var sum int64
	for _, x := range r[:k] {
		sum += x
	}
	return sum
}

func poolBench(bench string, n int64) func(int64) (int64, error) {
	switch bench {
	case "fib":
		return func(m int64) (int64, error) { return fib(m), nil }
	case "skynet":
		return func(m int64) (int64, error) { return skynet(0, m), nil }
	case "nqueens":
		if n > nqueensMax {
			fail("nqueens: n is at most %d", nqueensMax)
		}
		return func(m int64) (int64, error) {
			return nqueens(board{n: uint32(m)}), nil
		}
	}
	fail("the go peer cannot run pool bench %s", bench)
	return nil
}
