// SPDX-License-Identifier: MIT

package main

// spool-bench-loop's workloads (compare/loop/peer.h) in Go with GOMAXPROCS
// 1, goroutines standing in for coroutines:
//
//	switch    100 goroutines each calling runtime.Gosched n/100 times.
//	timers    n time.AfterFunc timers (Go's one-shot timer with a
//	          callback), made inside the timed part; each callback checks
//	          that its deadline, taken before the timer was made, has
//	          passed.
//	pingpong  a client and an echo goroutine over TCP on 127.0.0.1 with
//	          TCP_NODELAY (SetNoDelay), connected before "ready".
//	sleepers  n goroutines each in time.Sleep(100 ms), all at once.
//
// wakeups is not run: Go gives a program no loop that another OS thread
// wakes (compare/loop/peer_ext.c says so). Each answer is the number of
// units done; the driver checks it.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	coroutines = 100
	msgSize    = 64
	sleepFor   = 100 * time.Millisecond
)

func timerDelay(i int64) time.Duration {
	return time.Duration((i*7919)%100) * time.Millisecond
}

func switchRun(m int64) (int64, error) {
	k := m / coroutines
	var wg sync.WaitGroup
	var yields int64
	wg.Add(coroutines)
	for c := 0; c < coroutines; c++ {
		go func() {
			for i := int64(0); i < k; i++ {
				runtime.Gosched()
			}
			atomic.AddInt64(&yields, k)
			wg.Done()
		}()
	}
	wg.Wait()
	return yields, nil
}

func timersRun(m int64) (int64, error) {
	var fired, early int64
	done := make(chan struct{})
	if m == 0 {
		return 0, nil
	}
	for i := int64(0); i < m; i++ {
		deadline := time.Now().Add(timerDelay(i))
		time.AfterFunc(timerDelay(i), func() {
			if time.Now().Before(deadline) {
				atomic.AddInt64(&early, 1)
			}
			if atomic.AddInt64(&fired, 1) == m {
				close(done)
			}
		})
	}
	<-done
	if e := atomic.LoadInt64(&early); e != 0 {
		return 0, fmt.Errorf("%d of %d timers fired early", e, m)
	}
	return atomic.LoadInt64(&fired), nil
}

func sleepersRun(m int64) (int64, error) {
	var wg sync.WaitGroup
	var slept int64
	wg.Add(int(m))
	for i := int64(0); i < m; i++ {
		go func() {
			time.Sleep(sleepFor)
			atomic.AddInt64(&slept, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	return slept, nil
}

// tcpPair connects a client to a server on 127.0.0.1, both TCP_NODELAY.
func tcpPair() (net.Conn, net.Conn, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	s, err := l.Accept()
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	for _, x := range []net.Conn{c, s} {
		if err := x.(*net.TCPConn).SetNoDelay(true); err != nil {
			return nil, nil, err
		}
	}
	return c, s, nil
}

func pingpongRun(c, s net.Conn, m int64) (int64, error) {
	echoed := make(chan error, 1)
	go func() {
		buf := make([]byte, msgSize)
		for i := int64(0); i < m; i++ {
			if _, err := io.ReadFull(s, buf); err != nil {
				echoed <- err
				return
			}
			if _, err := s.Write(buf); err != nil {
				echoed <- err
				return
			}
		}
		echoed <- nil
	}()
	out := make([]byte, msgSize)
	back := make([]byte, msgSize)
	for i := int64(0); i < m; i++ {
		for j := range out {
			out[j] = byte(i & 0x7f)
		}
		if _, err := c.Write(out); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return 0, err
		}
		if !bytes.Equal(out, back) {
			return 0, fmt.Errorf("round trip %d: wrong reply", i)
		}
	}
	if err := <-echoed; err != nil {
		return 0, fmt.Errorf("echo: %v", err)
	}
	return m, nil
}

func loopBench(bench string, n int64) func(int64) (int64, error) {
	switch bench {
	case "switch":
		return switchRun
	case "timers":
		return timersRun
	case "sleepers":
		return sleepersRun
	case "pingpong":
		c, s, err := tcpPair()
		if err != nil {
			fail("pingpong connection: %v", err)
		}
		used := false
		return func(m int64) (int64, error) {
			if used {
				return 0, fmt.Errorf("pingpong runs once per process")
			}
			used = true
			return pingpongRun(c, s, m)
		}
	}
	fail("the go peer cannot run loop bench %s", bench)
	return nil
}
