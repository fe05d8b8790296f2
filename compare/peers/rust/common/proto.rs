// SPDX-License-Identifier: MIT
//! The side of a peer program of the line protocol that the benchmark
//! drivers speak to it (compare/common/extpeer.h has the driver's side).
//!
//! The program is started as `PROGRAM SUITE BENCH THREADS N` with a pipe on
//! stdin and stdout. It prepares the workload for sizes up to N (runtime,
//! arrays, connections: all untimed), then writes `ready`, or
//! `error: <what>` and exits. For each line `run M` it runs the workload at
//! size M and writes `ok <answer> <cpu seconds>`, or `error: <what>`; the
//! driver times the span from its request to the reply, so process start,
//! runtime start and set-up are never in a figure, and checks the answer.
//! The CPU seconds are this process's own (getrusage, every thread) over
//! the run, which the driver cannot see from outside. End of input ends
//! the program.

use std::io::{self, BufRead, Write};

/// The command line: suite, bench, threads, size.
pub struct Args {
    pub suite: String,
    pub bench: String,
    pub threads: usize,
    pub n: i64,
}

/// Reads the command line, or reports the error to the driver and exits.
pub fn args() -> Args {
    let v: Vec<String> = std::env::args().collect();
    if v.len() != 5 {
        fail("usage: PROGRAM SUITE BENCH THREADS N");
    }
    let threads = v[3].parse::<usize>().unwrap_or(0);
    let n = v[4].parse::<i64>().unwrap_or(-1);
    if threads < 1 || n < 0 {
        fail("THREADS must be >= 1 and N >= 0");
    }
    Args {
        suite: v[1].clone(),
        bench: v[2].clone(),
        threads,
        n,
    }
}

/// Writes `error: <what>` to the driver and exits: for set-up failures,
/// before `ready`.
pub fn fail(what: &str) -> ! {
    let mut out = io::stdout();
    let _ = writeln!(out, "error: {}", what);
    let _ = out.flush();
    std::process::exit(1);
}

/// CPU seconds used so far by every thread of this process.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes the struct it is given and nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return -1.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Writes `ready`, then answers every `run M` with `run(M)` until the end
/// of input. `run` returns the answer or what went wrong; sizes above the
/// N the program was started with are refused.
pub fn serve<F: FnMut(i64) -> Result<i64, String>>(max_n: i64, mut run: F) {
    let stdin = io::stdin();
    let mut out = io::stdout();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    for line in stdin.lock().lines() {
        let line = match line {
            Ok(l) => l,
            Err(_) => break,
        };
        let reply = match line.strip_prefix("run ").map(|m| m.parse::<i64>()) {
            Some(Ok(m)) if (0..=max_n).contains(&m) => {
                let c0 = cpu_seconds();
                let r = run(m);
                let c1 = cpu_seconds();
                match r {
                    Ok(answer) => format!("ok {} {:.6}", answer, c1 - c0),
                    Err(e) => format!("error: {}", e),
                }
            }
            _ => format!(
                "error: bad request {:?} (want run M, 0 <= M <= {})",
                line, max_n
            ),
        };
        let _ = writeln!(out, "{}", reply);
        let _ = out.flush();
    }
}
