#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz_futures into test/fuzz/corpus/.

Each seed is a short program in the input format that fuzz_futures.c's
opening comment describes, one seed per group of operations, so that the
fuzzer starts with every operation reached. Run it again after changing
the format (the op numbers below follow enum op in fuzz_futures.c).
"""
import os

(PROMISE, START, SET_RESULT, SET_ERROR, CANCEL, CALLBACK, RETAIN, RELEASE,
 POOL_TASK, LOOP_TASK, BRIDGE, GATHER, WAIT_ONE, WAIT_MANY, AS_COMPLETED,
 WAIT_FOR, GROUP, MAP, THEN, STEP, RUN_UNTIL, RUN_TASK) = range(22)
(B_VALUE, B_FAIL, B_POLL, B_WAIT, B_COMPLETE, B_GATHER, B_WAIT_FOR,
 B_CHILD) = range(8)
T0, T50, T500 = 0, 1, 2  # timeout selectors: 0, 50 us, 500 us


def task(op, slot, beh, v=1, t=T500, targets=()):
    out = [op, slot, beh, v, t]
    if beh == B_GATHER:
        out.append(len(targets) - 1)
    return out + list(targets)


SEEDS = {
    "promise_result": [0, PROMISE, 0, CALLBACK, 0, SET_RESULT, 0, 5,
                       WAIT_ONE, 0, T0, CALLBACK, 0, RELEASE, 0],
    "promise_errors": [0, PROMISE, 0, PROMISE, 1, PROMISE, 2,
                       SET_ERROR, 0, 0, SET_ERROR, 1, 1, SET_ERROR, 2, 3,
                       SET_ERROR, 2, 2, CANCEL, 2, CANCEL, 1,
                       WAIT_ONE, 2, T50],
    "promise_start_cancel": [0, PROMISE, 0, START, 0, CANCEL, 0,
                             SET_RESULT, 0, 9, CANCEL, 0, START, 0,
                             RETAIN, 0, RELEASE, 0, RELEASE, 0],
    "pool_tasks": [0] + task(POOL_TASK, 0, B_VALUE, 3)
    + task(POOL_TASK, 1, B_FAIL, 4) + task(POOL_TASK, 2, B_POLL)
    + [CANCEL, 2, CALLBACK, 1]
    + task(POOL_TASK, 3, B_CHILD, 7)
    + [WAIT_ONE, 0, T500, WAIT_ONE, 1, T500, WAIT_ONE, 2, T500,
       SET_RESULT, 0, 1, START, 1],
    "pool_wait_complete": [0, PROMISE, 0]
    + task(POOL_TASK, 1, B_WAIT, 2, T500, [0])
    + task(POOL_TASK, 2, B_COMPLETE, 3, T0, [0])
    + task(POOL_TASK, 3, B_WAIT_FOR, 4, T50, [1])
    + [WAIT_ONE, 1, T500, WAIT_ONE, 3, T500],
    "loop_tasks": [2, PROMISE, 0] + task(LOOP_TASK, 1, B_VALUE, 2)
    + task(LOOP_TASK, 2, B_WAIT, 3, T500, [0])
    + task(LOOP_TASK, 3, B_POLL) + task(LOOP_TASK, 4, B_CHILD, 1, T50)
    + [STEP, 3, CANCEL, 3, STEP, 1, SET_RESULT, 0, 6, STEP, 2,
       RUN_UNTIL, 2, RUN_UNTIL, 4],
    "loop_wait_for": [1, PROMISE, 0, START, 0]
    + task(LOOP_TASK, 1, B_WAIT_FOR, 2, T50, [0])
    + task(LOOP_TASK, 2, B_GATHER, 3, T50, [0, 1])
    + task(LOOP_TASK, 3, B_COMPLETE, 5, T0, [0])
    + [STEP, 3, RUN_UNTIL, 1, STEP, 3],
    "gather": [0, PROMISE, 0, PROMISE, 1, PROMISE, 2,
               GATHER, 3, 0, 3, 0, 1, 2, CALLBACK, 3,
               SET_RESULT, 0, 1, SET_RESULT, 1, 2,
               WAIT_MANY, 0, 0, T50, 4, 0, 1, 2, 3,
               SET_ERROR, 2, 0, WAIT_ONE, 3, T0, CANCEL, 3],
    "gather_return_errors": [0, PROMISE, 0] + task(POOL_TASK, 1, B_FAIL, 9)
    + [GATHER, 2, 1, 3, 0, 1, 0, CANCEL, 2,
       GATHER, 3, 1, 2, 1, 2, SET_ERROR, 0, 1,
       GATHER, 4, 0, 0, WAIT_ONE, 3, T500],
    "as_completed_wait": [0, PROMISE, 0] + task(POOL_TASK, 1, B_VALUE, 3)
    + task(POOL_TASK, 2, B_POLL)
    + [SET_RESULT, 0, 4, AS_COMPLETED, 0, T500, 4, 0, 1, 2, 0,
       WAIT_MANY, 0, 1, T500, 3, 0, 1, 2,
       WAIT_MANY, 0, 2, T50, 2, 1, 2],
    "wait_for": [0, PROMISE, 0] + task(POOL_TASK, 1, B_POLL)
    + task(POOL_TASK, 2, B_WAIT, 1, T500, [0])
    + [WAIT_FOR, 1, T0, WAIT_FOR, 2, T50, WAIT_FOR, 0, T0,
       GATHER, 3, 0, 2, 1, 2, WAIT_FOR, 3, T50],
    "group": [0, GROUP, 0, 0, 1, 3, 4]
    + task(0, 0, B_VALUE)[2:] + task(0, 0, B_FAIL, 5)[2:]
    + task(0, 0, B_POLL)[2:]
    + [GROUP, 1, 1, 0, 2, 1] + task(0, 0, B_VALUE)[2:]
    + task(0, 0, B_CHILD, 2, T50)[2:] + [STEP, 3],
    "map": [0, MAP, 0, 1, 4, 2, 1, 0, 2, 0, 3, 2, 4, 0,
            MAP, 1, 2, 3, 0, 5, 0, 6, 2, 7, 0,
            MAP, 2, 0, 2, 0, 8, 1, 9, 0, WAIT_ONE, 0, T500, STEP, 3,
            CANCEL, 1, WAIT_FOR, 0, T50],
    "then": [0, PROMISE, 0, THEN, 0, 1, 0, 0, 1, THEN, 0, 2, 1, 1, 2,
             THEN, 0, 3, 2, 2, 3, CALLBACK, 1, CANCEL, 3,
             SET_RESULT, 0, 5, WAIT_ONE, 2, T500, STEP, 3],
    "bridge": [0] + task(BRIDGE, 0, B_VALUE, 4) + task(BRIDGE, 1, B_POLL)
    + [CANCEL, 1, CALLBACK, 0, STEP, 3, RUN_UNTIL, 0, WAIT_ONE, 1, T50],
    "run_task": [0, PROMISE, 0, PROMISE, 1, RUN_TASK, 0, 4, RUN_TASK, 1, 5,
                 RUN_TASK, 0, 6, PROMISE, 2, CANCEL, 2, RUN_TASK, 2, 2],
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(here, exist_ok=True)
for name, prog in SEEDS.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(bytes(b & 0xFF for b in prog))
print(f"wrote {len(SEEDS)} seeds to {here}")
