# SPDX-License-Identifier: MIT
"""Smoke tests for a spool benchmark program.

check_bench.py [--measured I,..] [--skipped I,..] PROGRAM [ARGS...]
    Runs the program with ARGS and checks what every suite promises: exit
    status 0, and every stdout line one JSON object with bench, impl,
    threads and n, plus either "skipped" (a reason) or runs and median_s (a
    positive number); no "error" lines; at least one measured line.
    --measured: each of these implementations measured at least one bench.
    --skipped: each of these has lines, and every one of them is skipped
    with a reason (a peer that is not there is said so, not left out).

check_bench.py --usage PROGRAM
    Checks the shared command line: --help prints the usage and exits 0,
    listing the suite's implementations ("implementations: a b c"); an
    unknown flag, a missing value, --runs 0, --only with an unknown
    benchmark and --impl with an unknown implementation (alone, or after a
    known one) each print a message on stderr and exit 2, before running
    anything (nothing on stdout); the --impl message names the
    implementations the suite has.
"""

import json
import subprocess
import sys


def fail(msg):
    print("check_bench: " + msg, file=sys.stderr)
    sys.exit(1)


def parse_line(no, line):
    try:
        obj = json.loads(line)
    except ValueError as e:
        fail("line %d is not JSON (%s): %r" % (no, e, line))
    if not isinstance(obj, dict):
        fail("line %d is not a JSON object: %r" % (no, line))
    for key, kind in (("bench", str), ("impl", str), ("threads", int),
                      ("n", int)):
        if not isinstance(obj.get(key), kind):
            fail("line %d: %r missing or not %s" % (no, key, kind.__name__))
    if "error" in obj:
        fail("line %d reports an error: %s" % (no, obj["error"]))
    if "skipped" in obj:
        if not isinstance(obj["skipped"], str) or not obj["skipped"]:
            fail("line %d: 'skipped' must give a reason" % no)
        return obj
    if not isinstance(obj.get("runs"), int) or obj["runs"] < 1:
        fail("line %d: 'runs' missing or < 1" % no)
    med = obj.get("median_s")
    if not isinstance(med, (int, float)) or not med > 0:
        fail("line %d: 'median_s' missing or not positive" % no)
    return obj


def check_impls(objs, measured, skipped):
    for impl in measured:
        mine = [o for o in objs if o["impl"] == impl]
        if not any("skipped" not in o for o in mine):
            why = "; ".join(sorted({o["skipped"] for o in mine}))
            fail("impl %r measured nothing (%s)" % (impl, why or "no lines"))
    for impl in skipped:
        mine = [o for o in objs if o["impl"] == impl]
        if not mine:
            fail("impl %r printed no line: a missing peer must say why" %
                 impl)
        if any("skipped" not in o for o in mine):
            fail("impl %r was expected to be skipped, but ran" % impl)


def check_usage(prog):
    proc = subprocess.run([prog, "--help"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or "usage:" not in proc.stdout:
        fail("--help: want status 0 and the usage on stdout, got status %d"
             % proc.returncode)
    impls = [l.split(":", 1)[1].split() for l in proc.stdout.splitlines()
             if l.startswith("implementations:")]
    if not impls or not impls[0]:
        fail("--help does not list the implementations "
             "(a line 'implementations: a b c')")
    impls = impls[0]
    bad = (["--no-such-flag"], ["--runs"], ["--runs", "0"], ["--runs=x"],
           ["--threads", "-1"], ["--only", "no-such-bench"],
           ["--impl", "nosuch"], ["--impl", impls[0] + ",nosuch"])
    for args in bad:
        proc = subprocess.run([prog] + args, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        if proc.returncode != 2:
            fail("%s: want status 2, got %d" % (" ".join(args),
                                                proc.returncode))
        if not proc.stderr.strip():
            fail("%s: no message on stderr" % " ".join(args))
        if proc.stdout:
            fail("%s: printed on stdout: %r" % (" ".join(args),
                                                proc.stdout[:200]))
        if args[0] == "--impl" and not all(i in proc.stderr
                                           for i in impls):
            fail("%s: the message does not name the implementations %s"
                 % (" ".join(args), " ".join(impls)))
    print("check_bench: usage checks passed (%d bad command lines; "
          "implementations: %s)" % (len(bad), " ".join(impls)))


def main():
    usage = ("usage: check_bench.py [--measured I,..] [--skipped I,..] "
             "PROGRAM [ARGS...] | --usage PROGRAM")
    args = sys.argv[1:]
    if args[:1] == ["--usage"]:
        if len(args) != 2:
            fail("usage: check_bench.py --usage PROGRAM")
        check_usage(args[1])
        return
    expect = {"--measured": [], "--skipped": []}
    while args and args[0] in expect:
        if len(args) < 2:
            fail(usage)
        expect[args[0]] += [i for i in args[1].split(",") if i]
        args = args[2:]
    if not args:
        fail(usage)
    proc = subprocess.run(args, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        fail("%s exited with status %d" % (args[0], proc.returncode))
    lines = proc.stdout.splitlines()
    if not lines:
        fail("no output on stdout")
    objs = [parse_line(i + 1, l) for i, l in enumerate(lines)]
    measured = sum("skipped" not in o for o in objs)
    if measured == 0:
        fail("every line was skipped: nothing was measured")
    check_impls(objs, expect["--measured"], expect["--skipped"])
    print("check_bench: %d lines, %d measured%s" % (
        len(lines), measured,
        "".join("; %s %s" % (k[2:], ",".join(v))
                for k, v in expect.items() if v)))


if __name__ == "__main__":
    main()
