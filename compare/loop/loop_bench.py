# SPDX-License-Identifier: MIT
"""CPython's asyncio side of spool-bench-loop (one workload per process).

usage: loop_bench.py BENCH N

Prepares BENCH at size N (see compare/loop/peer.h for the workloads),
prints "ready", waits for "go" on stdin, runs the workload, checks it and
prints "done" or "error: <what>". The C driver times the span from "go" to
"done", so the interpreter's start-up and imports are not measured.
"""

import asyncio
import os
import socket
import sys
import threading

COROUTINES = 100
MSG = 64
SLEEP_S = 0.1


def timer_delay_ms(i):
    return (i * 7919) % 100


def prepare_switch(loop, n):
    async def yielder(k):
        for _ in range(k):
            await asyncio.sleep(0)
        return k

    def run():
        k = n // COROUTINES
        done = loop.run_until_complete(
            asyncio.gather(*(yielder(k) for _ in range(COROUTINES))))
        return None if sum(done) == k * COROUTINES else "wrong count"
    return run


def prepare_timers(loop, n):
    state = {"count": 0, "early": 0}
    finished = loop.create_future()

    def fire(when):
        # asyncio may run a timer up to its clock's resolution early.
        if loop.time() < when - 1e-9:
            state["early"] += 1
        state["count"] += 1
        if state["count"] == n:
            finished.set_result(None)

    def run():
        for i in range(n):
            d = timer_delay_ms(i) / 1000.0
            loop.call_later(d, fire, loop.time() + d)
        loop.run_until_complete(finished)
        if state["count"] != n or state["early"]:
            return "%d of %d fired, %d early" % (state["count"], n,
                                                 state["early"])
        return None
    return run


def prepare_pingpong(loop, n):
    async def echo(reader, writer):
        try:
            while True:
                writer.write(await reader.readexactly(MSG))
        except asyncio.IncompleteReadError:
            writer.close()

    server = loop.run_until_complete(
        asyncio.start_server(echo, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    reader, writer = loop.run_until_complete(
        asyncio.open_connection("127.0.0.1", port))
    writer.get_extra_info("socket").setsockopt(
        socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def client():
        for i in range(n):
            out = bytes([i & 0x7f]) * MSG
            writer.write(out)
            if await reader.readexactly(MSG) != out:
                return "wrong reply"
        return None

    def run():
        return loop.run_until_complete(client())
    return run


def prepare_sleepers(loop, n):
    def run():
        loop.run_until_complete(
            asyncio.gather(*(asyncio.sleep(SLEEP_S) for _ in range(n))))
        return None
    return run


def prepare_wakeups(loop, n):
    state = {"count": 0}
    sem = threading.Semaphore(0)

    def ack():
        state["count"] += 1
        sem.release()

    def waker():
        for _ in range(n):
            loop.call_soon_threadsafe(ack)
            sem.acquire()
        loop.call_soon_threadsafe(loop.stop)

    def run():
        t = threading.Thread(target=waker)
        t.start()
        loop.run_forever()
        t.join()
        return None if state["count"] == n else "wrong count"
    return run


PREPARE = {
    "switch": prepare_switch,
    "timers": prepare_timers,
    "pingpong": prepare_pingpong,
    "sleepers": prepare_sleepers,
    "wakeups": prepare_wakeups,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in PREPARE:
        print("error: usage: loop_bench.py BENCH N", flush=True)
        return 2
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    run = PREPARE[sys.argv[1]](loop, int(sys.argv[2]))
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 2
    try:
        problem = run()
    except Exception as e:  # reported to the driver, which fails the run
        problem = "%s: %s" % (type(e).__name__, e)
    print("done" if problem is None else "error: " + problem, flush=True)
    sys.stdin.read()  # until the driver closes the pipe
    os._exit(0)  # skip tearing down 100,000 tasks and their warnings


if __name__ == "__main__":
    sys.exit(main())
