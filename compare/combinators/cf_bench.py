# SPDX-License-Identifier: MIT
"""CPython's side of spool-bench-combinators.

The same benches as the C program, on CPython's own futures:
  one_by_one      f.result() on each future in input order
  gather          asyncio.gather over already-done asyncio futures (asyncio
                  futures cannot be completed from other threads, so the
                  pool shape is skipped)
  wait_all        concurrent.futures.wait(fs, return_when=ALL_COMPLETED)
  wait_first      ... FIRST_COMPLETED
  wait_exception  ... FIRST_EXCEPTION
  as_completed    for f in concurrent.futures.as_completed(fs): f.result()
over n concurrent.futures.Future objects of two shapes:
  done  (threads 1)  completed before the clock starts;
  pool  (threads T)  completed meanwhile by T ThreadPoolExecutor workers,
                     each taking every T-th future in input order; the clock
                     starts before they begin, as in the C program.
Each bench runs --runs times, interleaved (every bench once per round), and
one JSON object per bench and shape goes to stdout with the median, as the
project's benchmark rules ask. Progress goes to stderr.

usage: cf_bench.py [--n N] [--runs R] [--threads T] [--only a,b]
"""

import argparse
import asyncio
import concurrent.futures as cf
import gc
import json
import statistics
import sys
import time

BENCHES = ["one_by_one", "gather", "wait_all", "wait_first",
           "wait_exception", "as_completed"]


def make_done(n):
    fs = [cf.Future() for _ in range(n)]
    for i, f in enumerate(fs):
        f.set_result(i + 1)
    return fs


def complete_stride(fs, first, step):
    for i in range(first, len(fs), step):
        fs[i].set_result(i + 1)


def check_sum(total, n):
    if total != n * (n + 1) // 2:
        raise RuntimeError("wrong sum of values")


def run_bench(bench, fs, n):
    if bench == "one_by_one":
        check_sum(sum(f.result() for f in fs), n)
    elif bench == "as_completed":
        check_sum(sum(f.result() for f in cf.as_completed(fs)), n)
    else:
        when = {"wait_all": cf.ALL_COMPLETED,
                "wait_first": cf.FIRST_COMPLETED,
                "wait_exception": cf.FIRST_EXCEPTION}[bench]
        done, pending = cf.wait(fs, return_when=when)
        if not done or (when != cf.FIRST_COMPLETED and len(done) != n):
            raise RuntimeError("wait reported %d done" % len(done))


def time_gather(n):
    """asyncio.gather over n already-done asyncio futures; only the gather
    and the wait for it are timed."""
    loop = asyncio.new_event_loop()
    try:
        futs = [loop.create_future() for _ in range(n)]
        for i, f in enumerate(futs):
            f.set_result(i + 1)

        async def main():
            t0 = time.perf_counter()
            res = await asyncio.gather(*futs)
            t1 = time.perf_counter()
            check_sum(sum(res), n)
            return t1 - t0
        return loop.run_until_complete(main())
    finally:
        loop.close()


def time_one(bench, shape, n, threads, pool):
    gc.collect()
    if bench == "gather":
        return time_gather(n)
    if shape == "done":
        fs = make_done(n)
        t0 = time.perf_counter()
        run_bench(bench, fs, n)
        return time.perf_counter() - t0
    fs = [cf.Future() for _ in range(n)]
    t0 = time.perf_counter()
    workers = [pool.submit(complete_stride, fs, k, threads)
               for k in range(threads)]
    run_bench(bench, fs, n)
    t1 = time.perf_counter()
    for w in workers:
        w.result()
    return t1 - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    benches = BENCHES
    if a.only:
        wanted = a.only.split(",")
        benches = [b for b in BENCHES if b in wanted]
    exps = []
    for shape, threads in (("done", 1), ("pool", a.threads)):
        for b in benches:
            skipped = None
            if b == "gather" and shape == "pool":
                skipped = ("asyncio futures cannot be completed from "
                           "pool threads; gather is measured on done "
                           "futures only")
            exps.append({"bench": b, "shape": shape, "threads": threads,
                         "skipped": skipped, "samples": []})
    with cf.ThreadPoolExecutor(max_workers=a.threads) as pool:
        for r in range(a.runs):
            for e in exps:
                if e["skipped"]:
                    continue
                s = time_one(e["bench"], e["shape"], a.n, e["threads"],
                             pool)
                e["samples"].append(s)
                print("cf_bench: round %d/%d  %-14s %-4s %10.6f s"
                      % (r + 1, a.runs, e["bench"], e["shape"], s),
                      file=sys.stderr)
    for e in exps:
        out = {"suite": "combinators", "bench": e["bench"],
               "impl": "cpython", "threads": e["threads"], "n": a.n}
        if e["skipped"]:
            out["skipped"] = e["skipped"]
        else:
            out["runs"] = len(e["samples"])
            out["median_s"] = statistics.median(e["samples"])
            out["min_s"] = min(e["samples"])
            out["max_s"] = max(e["samples"])
            out["python"] = sys.version.split()[0]
        print(json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
