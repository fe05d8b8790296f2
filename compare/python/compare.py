#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The lesson's workloads in real CPython, for spool-compare's Part 3.

The same workloads as compare/app (sleep, request, fib, hash, mixed,
convoy), run through CPython's own tools:

  sequential         one task after another
  threadpool         concurrent.futures.ThreadPoolExecutor(max_workers=T)
  threads            ThreadPoolExecutor(max_workers=tasks): a thread per task
  processpool        concurrent.futures.ProcessPoolExecutor(max_workers=T)
  asyncio            coroutines on one event loop (asyncio.sleep, streams)
  asyncio-threads    the loop, CPU parts via run_in_executor(ThreadPool T)
  asyncio-processes  the loop, CPU parts via run_in_executor(ProcessPool T)

Each line on stdout is one JSON object (the benchmarks' format,
docs/results/README.md):
  {"bench": "lesson_fib", "impl": "cpython", "backend": "threadpool",
   "threads": 2, "tasks": 16, "n": 20, "runs": 3, "median_s": 0.05, ...}
Standard library only. Network traffic stays on 127.0.0.1: the requests go
to --port (spool-compare passes its own server) or to a server this script
starts on an ephemeral port.
"""
import argparse
import asyncio
import concurrent.futures as cf
import json
import multiprocessing
import resource
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

MASK = (1 << 64) - 1


def mix64(x):
    """SplitMix64's finaliser, as cmp_mix64() in compare/app/workloads.c."""
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def server_answer(v):
    return mix64(v ^ 0x5EEDF00D)


def task_delay(seed, i, mean_s):
    """The i-th task's delay: uniform in [0.5, 1.5) x mean, as in C."""
    u = (mix64((seed * 0x9E3779B97F4A7C15 + i) & MASK) >> 11) / float(1 << 53)
    return mean_s * (0.5 + u)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fnv1a_rounds(buf, rounds, seed):
    h = 0xCBF29CE484222325 ^ seed
    for r in range(rounds):
        for b in buf:
            h = ((h ^ b) * 0x100000001B3) & MASK
        h = mix64((h + r) & MASK)
    return h


def make_buffer(seed, size):
    out = bytearray(size)
    for i in range(0, size, 8):
        out[i:i + 8] = struct.pack("<Q", mix64((seed + i // 8) & MASK))[:size - i]
    return bytes(out)


# ---- the local server (when spool-compare did not pass its own) ----------

class DelayServer:
    """Answers each 8-byte request after a fixed delay, on 127.0.0.1."""

    def __init__(self, delay_s):
        self.delay_s = delay_s
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    async def _handle(self, reader, writer):
        try:
            data = await reader.readexactly(8)
            await asyncio.sleep(self.delay_s)
            (v,) = struct.unpack("<Q", data)
            writer.write(struct.pack("<Q", server_answer(v)))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        srv = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=4096))
        self.port = srv.sockets[0].getsockname()[1]
        self.srv = srv
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# ---- the task bodies ------------------------------------------------------

def request_blocking(port, value, timeout=10.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(struct.pack("<Q", value))
        data = b""
        while len(data) < 8:
            chunk = s.recv(8 - len(data))
            if not chunk:
                raise ConnectionError("closed before the reply")
            data += chunk
    (r,) = struct.unpack("<Q", data)
    if r != server_answer(value):
        raise ValueError("wrong answer")
    return r


async def request_async(port, value, timeout=10.0):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(struct.pack("<Q", value))
        await writer.drain()
        data = await asyncio.wait_for(reader.readexactly(8), timeout)
    finally:
        writer.close()
    (r,) = struct.unpack("<Q", data)
    if r != server_answer(value):
        raise ValueError("wrong answer")
    return r


class Job:
    """One task of a workload; picklable, so process pools can run it."""

    def __init__(self, a, i):
        self.w, self.i = a.workload, i
        self.seed, self.port = a.seed, a.port
        self.delay = task_delay(a.seed, i, a.delay_ms / 1000.0)
        self.fib_n = a.fib
        self.rounds = a.hash_rounds
        self.kib = a.hash_kib

    def cpu(self):
        if self.w == "fib":
            return fib(self.fib_n)
        return fnv1a_rounds(BUFFERS[self.kib], self.rounds, mix64(self.i))

    def blocking(self):
        if self.w == "sleep":
            time.sleep(self.delay)
            return mix64(self.seed ^ self.i)
        if self.w == "request":
            return request_blocking(self.port, mix64(self.seed + self.i))
        return self.cpu()

    async def coroutine(self, offload):
        if self.w == "sleep":
            await asyncio.sleep(self.delay)
            return mix64(self.seed ^ self.i)
        if self.w == "request":
            return await request_async(self.port, mix64(self.seed + self.i))
        if offload is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(offload, cpu_job, self)
        return self.cpu()


BUFFERS = {}


def cpu_job(job):
    if job.kib not in BUFFERS:
        BUFFERS[job.kib] = make_buffer(job.seed, job.kib * 1024)
    return job.cpu()


def blocking_job(job):
    if job.kib not in BUFFERS:
        BUFFERS[job.kib] = make_buffer(job.seed, job.kib * 1024)
    return job.blocking()


def checksum(results):
    return sum(mix64((r + i) & MASK) for i, r in enumerate(results)) & MASK


# ---- backends -------------------------------------------------------------

def run_sequential(jobs, a):
    return [blocking_job(j) for j in jobs]


def run_pool(make):
    def run(jobs, a):
        with make(a) as ex:
            return list(ex.map(blocking_job, jobs))
    return run


def run_asyncio(make):
    def run(jobs, a):
        async def main():
            ex = make(a) if make else None
            try:
                return await asyncio.gather(*(j.coroutine(ex) for j in jobs))
            finally:
                if ex:
                    ex.shutdown(wait=True)
        return asyncio.run(main())
    return run


BACKENDS = {
    "sequential": run_sequential,
    "threadpool": run_pool(lambda a: cf.ThreadPoolExecutor(a.threads)),
    "threads": run_pool(lambda a: cf.ThreadPoolExecutor(a.tasks)),
    "processpool": run_pool(lambda a: cf.ProcessPoolExecutor(a.threads)),
    "asyncio": run_asyncio(None),
    "asyncio-threads": run_asyncio(lambda a: cf.ThreadPoolExecutor(a.threads)),
    "asyncio-processes": run_asyncio(
        lambda a: cf.ProcessPoolExecutor(a.threads)),
}

# ---- mixed: request latency while CPU jobs run ---------------------------

# The client sets CLIENT_DONE after its last request; the CPU jobs stop at
# their next round, so the load lasts exactly as long as the measurement
# (as in compare/app/backends.c). A multiprocessing Event, so that process
# pool workers see it too (handed to them by their initializer).
CLIENT_DONE = None


def set_client_done_event(ev):
    global CLIENT_DONE
    CLIENT_DONE = ev


def mixed_cpu(job):
    if job.kib not in BUFFERS:
        BUFFERS[job.kib] = make_buffer(job.seed, job.kib * 1024)
    h = mix64(job.i)
    for _ in range(job.rounds):
        if CLIENT_DONE is not None and CLIENT_DONE.is_set():
            break
        h = fnv1a_rounds(BUFFERS[job.kib], 1, h)
    return h


def client_blocking(a, lat):
    try:
        for k in range(a.requests):
            t = time.perf_counter()
            request_blocking(a.port, mix64(a.seed * 31 + k))
            lat.append(time.perf_counter() - t)
    finally:
        CLIENT_DONE.set()


async def client_async(a, lat):
    try:
        for k in range(a.requests):
            t = time.perf_counter()
            await request_async(a.port, mix64(a.seed * 31 + k))
            lat.append(time.perf_counter() - t)
    finally:
        CLIENT_DONE.set()


def mixed_jobs(a):
    jobs = []
    for i in range(a.threads):
        j = Job(a, i)
        j.w, j.rounds = "hash", a.mixed_rounds
        jobs.append(j)
    return jobs


def run_mixed(backend, a, lat):
    jobs = mixed_jobs(a)
    set_client_done_event(multiprocessing.Event())

    def executor(kind, n):
        if kind == "processes":
            return cf.ProcessPoolExecutor(
                n, initializer=set_client_done_event,
                initargs=(CLIENT_DONE,))
        return cf.ThreadPoolExecutor(n)

    if backend == "sequential":
        [mixed_cpu(j) for j in jobs]
        client_blocking(a, lat)
    elif backend in ("threadpool", "threads", "processpool"):
        kind = "processes" if backend == "processpool" else "threads"
        with executor(kind, len(jobs)) as ex:
            futs = [ex.submit(mixed_cpu, j) for j in jobs]
            client_blocking(a, lat)
            [f.result() for f in futs]
    else:
        async def cpu(j, ex):
            if ex is None:
                return mixed_cpu(j)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(ex, mixed_cpu, j)

        async def main():
            ex = None
            if backend.startswith("asyncio-"):
                ex = executor(backend[len("asyncio-"):], a.threads)
            try:
                client = asyncio.ensure_future(client_async(a, lat))
                await asyncio.sleep(0)  # the client starts first
                await asyncio.gather(client, *(cpu(j, ex) for j in jobs))
            finally:
                if ex:
                    ex.shutdown(wait=True)
        asyncio.run(main())


# ---- convoy: echo round trips beside CPU-bound threads --------------------
#
# A client in this process times round trips of 8 bytes to an echo server in
# a child CPython process (this script, --convoy-serve), which runs k
# CPU-bound jobs beside its server: as threads (the GIL), in a
# ProcessPoolExecutor, or with the server on asyncio and the jobs handed to
# run_in_executor(ProcessPoolExecutor). The client sleeps --gap-ms before
# each round trip (not timed), so that the server is idle between requests.
# As in compare/app/convoy.c, the client is the outside peer: it does not
# share the server's GIL.

CONVOY_BACKENDS = ["sequential", "threads", "processpool", "asyncio-processes"]
CONVOY_BYTES = 8
SPIN_FIB = 12  # one unit of a CPU job: a few tens of microseconds
STOP = [False]  # the threads' jobs end at their next unit
STARTED = None  # the process jobs count themselves here


def set_convoy_shared(ev, started):
    global CLIENT_DONE, STARTED
    CLIENT_DONE, STARTED = ev, started


def spin_thread(started):
    started.release()
    while not STOP[0]:
        fib(SPIN_FIB)


def spin_process():
    with STARTED.get_lock():
        STARTED.value += 1
    units = 0
    while not CLIENT_DONE.is_set():
        fib(SPIN_FIB)
        units += 1
    return units


def echo_blocking(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = conn.recv(64)
        if not d:
            break
        conn.sendall(d)
    conn.close()


def wait_started(started, k):
    deadline = time.monotonic() + 10
    while started.value < k and time.monotonic() < deadline:
        time.sleep(0.001)


def convoy_serve(a):
    """The child: an echo server beside k CPU jobs; prints its port once
    the jobs run, serves one connection, then stops the jobs."""
    backend, k = a.convoy_serve[0], int(a.convoy_serve[1])
    sys.setswitchinterval(a.switch_interval_ms / 1000.0)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    if backend == "threads":
        started = threading.Semaphore(0)
        ts = [threading.Thread(target=spin_thread, args=(started,))
              for _ in range(k)]
        for t in ts:
            t.start()
        for _ in ts:
            started.acquire()
        print(port, flush=True)
        conn, _ = ls.accept()
        echo_blocking(conn)
        STOP[0] = True
        for t in ts:
            t.join()
        return
    ev, started = multiprocessing.Event(), multiprocessing.Value("i", 0)
    ex = (cf.ProcessPoolExecutor(k, initializer=set_convoy_shared,
                                 initargs=(ev, started)) if k else None)
    try:
        if backend == "processpool":
            futs = [ex.submit(spin_process) for _ in range(k)] if ex else []
            wait_started(started, k)
            print(port, flush=True)
            conn, _ = ls.accept()
            echo_blocking(conn)
            ev.set()
            [f.result() for f in futs]
            return

        async def handle(reader, writer):
            while True:
                d = await reader.read(64)
                if not d:
                    break
                writer.write(d)
                await writer.drain()
            writer.close()
            done.set()

        async def main():
            global done
            done = asyncio.Event()
            loop = asyncio.get_running_loop()
            srv = await asyncio.start_server(handle, sock=ls)
            jobs = [loop.run_in_executor(ex, spin_process) for _ in range(k)]
            while started.value < k:
                await asyncio.sleep(0.001)
            print(port, flush=True)
            await done.wait()
            ev.set()
            await asyncio.gather(*jobs)
            srv.close()
        asyncio.run(main())
    finally:
        if ex:
            ex.shutdown(wait=True)


def convoy_client(a, sock, server=None):
    """Times a.round_trips round trips on sock; server, if given, is the
    other end, echoed by this same thread (sequential)."""
    lat = []
    for k in range(-1, a.round_trips):  # -1: the warm-up
        v = struct.pack("<Q", mix64((a.seed * 131 + k) & MASK))
        time.sleep(a.gap_ms / 1000.0)
        t = time.perf_counter()
        sock.sendall(v)
        if server is not None:
            server.sendall(server.recv(64))
        got = b""
        while len(got) < CONVOY_BYTES:
            chunk = sock.recv(CONVOY_BYTES - len(got))
            if not chunk:
                raise ConnectionError("closed before the echo")
            got += chunk
        if k >= 0:
            lat.append(time.perf_counter() - t)
        if got != v:
            raise ValueError("the echo differs")
    return lat


def convoy_once(a, backend, k):
    """One run: returns the round trips' times (s) and their total."""
    if backend == "sequential":
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        c = socket.create_connection(ls.getsockname())
        s, _ = ls.accept()
        for x in (c, s):
            x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.perf_counter()
        lat = convoy_client(a, c, s)
        wall = time.perf_counter() - t0
        for x in (c, s, ls):
            x.close()
        return lat, wall
    child = subprocess.Popen(
        [sys.executable, __file__, "--convoy-serve", backend, str(k),
         "--switch-interval-ms", str(a.switch_interval_ms)],
        stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = time.perf_counter()
            lat = convoy_client(a, c)
            wall = time.perf_counter() - t0
        if child.wait(30) != 0:
            raise RuntimeError("the echo server exited with %d"
                               % child.returncode)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return lat, wall


def run_convoy(a, backends):
    rows = [(b, k) for b in CONVOY_BACKENDS if b in backends
            for k in (range(a.cpu_threads + 1) if b != "sequential"
                      else [0])]
    got = {r: ([], [], [], None) for r in rows}
    for _ in range(a.runs):
        for k in range(a.cpu_threads + 1):
            for r in rows:
                if r[1] != k or got[r][3]:
                    continue
                try:
                    lat, wall = convoy_once(a, *r)
                except Exception as e:  # reported on the row
                    got[r] = got[r][:3] + ("%s: %s" % (type(e).__name__,
                                                       e),)
                    continue
                got[r][0].append(percentile(lat, 50) * 1e3)
                got[r][1].append(percentile(lat, 99) * 1e3)
                got[r][2].append(wall)
    p50 = {r: statistics.median(got[r][0]) for r in rows if not got[r][3]}
    for r in rows:
        b, k = r
        line = {"bench": "lesson_convoy", "impl": "cpython", "backend": b,
                "threads": k, "cpu_threads": k, "tasks": 1,
                "n": a.round_trips, "runs": a.runs,
                "switch_interval_ms": a.switch_interval_ms,
                "gap_ms": a.gap_ms, "python": sys.version.split()[0]}
        if got[r][3]:
            line["error"] = got[r][3]
        else:
            line["median_s"] = round(statistics.median(got[r][2]), 6)
            line["p50_ms"] = round(p50[r], 4)
            line["p99_ms"] = round(statistics.median(got[r][1]), 4)
            if (b, 0) in p50 and p50[(b, 0)] > 0:
                line["factor"] = round(p50[r] / p50[(b, 0)], 2)
        print(json.dumps(line), flush=True)


# ---- measuring ------------------------------------------------------------

def cpu_seconds():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def percentile(v, p):
    v = sorted(v)
    if not v:
        return 0.0
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def size_of(a):
    return {"sleep": a.delay_ms, "request": a.delay_ms, "fib": a.fib,
            "hash": a.hash_kib * a.hash_rounds,
            "mixed": a.requests}[a.workload]


def measure(a, backend):
    walls, cpus, p50s, p99s, sums = [], [], [], [], set()
    for _ in range(a.runs):
        lat = []
        t0, c0 = time.perf_counter(), cpu_seconds()
        if a.workload == "mixed":
            run_mixed(backend, a, lat)
            res = []
        else:
            jobs = [Job(a, i) for i in range(a.tasks)]
            res = BACKENDS[backend](jobs, a)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
        if lat:
            p50s.append(percentile(lat, 50) * 1e3)
            p99s.append(percentile(lat, 99) * 1e3)
        sums.add(checksum(res))
    return walls, cpus, p50s, p99s, sums


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", default="sleep,request,fib,hash,mixed")
    p.add_argument("--backend", default=",".join(BACKENDS))
    p.add_argument("--tasks", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--delay-ms", type=float, default=20.0)
    p.add_argument("--fib", type=int, default=23)
    p.add_argument("--hash-kib", type=int, default=4)
    p.add_argument("--hash-rounds", type=int, default=12)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--mixed-delay-ms", type=float, default=2.0)
    p.add_argument("--mixed-rounds", type=int, default=200)
    p.add_argument("--port", type=int, default=0,
                   help="a server on 127.0.0.1 answering after --delay-ms "
                   "(default: start one in this process)")
    p.add_argument("--mixed-port", type=int, default=0,
                   help="the same, answering after --mixed-delay-ms")
    p.add_argument("--switch-interval-ms", type=float, default=5.0,
                   help="sys.setswitchinterval, in ms (CPython's default)")
    p.add_argument("--round-trips", type=int, default=50,
                   help="convoy: round trips timed per run")
    p.add_argument("--cpu-threads", type=int, default=2,
                   help="convoy: rows beside 0..N CPU-bound jobs")
    p.add_argument("--gap-ms", type=float, default=1.0,
                   help="convoy: the client's pause before each round trip")
    p.add_argument("--convoy-serve", nargs=2, metavar=("BACKEND", "K"),
                   help=argparse.SUPPRESS)  # the convoy's child process
    a = p.parse_args()
    if a.convoy_serve:
        convoy_serve(a)
        return
    sys.setswitchinterval(a.switch_interval_ms / 1000.0)
    workloads = a.workload.split(",")
    backends = a.backend.split(",")
    for b in backends:
        if b not in BACKENDS:
            p.error("unknown backend %r" % b)
    # A server in this process shares the GIL with the clients it serves;
    # spool-compare passes servers of its own (in C) so that it does not.
    own = []
    if a.port == 0 and "request" in workloads:
        own.append(DelayServer(a.delay_ms / 1000.0))
        a.port = own[-1].port
    if a.mixed_port == 0 and "mixed" in workloads:
        own.append(DelayServer(a.mixed_delay_ms / 1000.0))
        a.mixed_port = own[-1].port
    request_port = a.port
    BUFFERS[a.hash_kib] = make_buffer(a.seed, a.hash_kib * 1024)
    try:
        for w in workloads:
            if w == "convoy":
                run_convoy(a, backends)
                continue
            a.workload = w
            a.port = a.mixed_port if w == "mixed" else request_port
            seq = None
            for b in backends:
                if w in ("sleep", "request") and b.startswith("asyncio-"):
                    continue  # no CPU part to hand to an executor
                walls, cpus, p50s, p99s, sums = measure(a, b)
                med = statistics.median(walls)
                if b == "sequential":
                    seq = med
                line = {"bench": "lesson_" + w, "impl": "cpython",
                        "backend": b, "threads": a.threads,
                        "tasks": a.tasks, "n": size_of(a), "runs": a.runs,
                        "median_s": round(med, 6),
                        "cpu_s": round(statistics.median(cpus), 6),
                        "python": sys.version.split()[0]}
                if w != "mixed":  # the mixed client's replies are not kept
                    line["checksum"] = "%016x" % min(sums)
                if seq and w != "mixed":  # mixed: latency is the measure
                    line["speedup"] = round(seq / med, 3)
                if p50s:
                    line["p50_ms"] = round(statistics.median(p50s), 3)
                    line["p99_ms"] = round(statistics.median(p99s), 3)
                if len(sums) > 1:
                    line["error"] = "checksums differ between runs"
                print(json.dumps(line), flush=True)
    finally:
        for srv in own:
            srv.stop()


if __name__ == "__main__":
    main()
