// SPDX-License-Identifier: MIT
//! rayon on spool-bench-pool's workloads (compare/pool/peer.h), the way a
//! Rust program writes them: fib with `rayon::join` at every call and no
//! cut-off; skynet and nqueens with a `rayon::scope` per node that spawns one
//! job per child (ten for skynet, one per safe placement for nqueens) and
//! waits for them, as the C peers submit a task per child; for_sum and
//! for_map with `par_iter` over a Vec<i64>. Everything runs inside a
//! `ThreadPool` of the suite's thread count (`ThreadPoolBuilder::num_threads`),
//! entered with `install` from the program's main thread, which is not one
//! of its workers. submit stays on that outside thread: an `in_place_scope`
//! of the pool, whose spawns go to the pool's workers and whose end waits
//! for them all. Driven over a pipe by compare/pool/peer_ext.c.

use rayon::prelude::*;
use std::sync::atomic::{AtomicI64, Ordering};

/// submit's counter: a static, as in the C peers.
static COUNT: AtomicI64 = AtomicI64::new(0);

#[path = "../../common/proto.rs"]
mod proto;

fn fib(n: i64) -> i64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

/// A skynet node: leaves num .. num + size - 1 lie under it.
#[derive(Clone, Copy)]
struct Skynet {
    num: i64,
    size: i64,
}

fn skynet(s: Skynet) -> i64 {
    if s.size == 1 {
        return s.num;
    }
    let size = s.size / 10;
    let mut sums = [0i64; 10];
    rayon::scope(|sc| {
        for (i, slot) in sums.iter_mut().enumerate() {
            let c = Skynet {
                num: s.num + i as i64 * size,
                size,
            };
            sc.spawn(move |_| *slot = skynet(c));
        }
    });
    sums.iter().sum()
}

/// An nqueens node: rows 0 .. row - 1 hold queens; a bit per column taken
/// and per diagonal (shifted to this row), as in peer.h.
#[derive(Clone, Copy)]
struct Board {
    n: u32,
    row: u32,
    cols: u32,
    d1: u32,
    d2: u32,
}

const NQUEENS_MAX: i64 = 16;

fn nqueens(s: Board) -> i64 {
    if s.row == s.n {
        return 1;
    }
    let mut free = !(s.cols | s.d1 | s.d2) & ((1u32 << s.n) - 1);
    let mut counts = [0i64; NQUEENS_MAX as usize];
    rayon::scope(|sc| {
        let mut slots = counts.iter_mut();
        while free != 0 {
            let bit = free & free.wrapping_neg();
            free ^= bit;
            let c = Board {
                n: s.n,
                row: s.row + 1,
                cols: s.cols | bit,
                d1: (s.d1 | bit) << 1,
                d2: (s.d2 | bit) >> 1,
            };
            let slot = slots.next().expect("at most n free columns");
            sc.spawn(move |_| *slot = nqueens(c));
        }
    });
    counts.iter().sum()
}

/// The for_map element function (the C driver computes the same).
fn map_one(x: i64) -> i64 {
    x * x % 1000003
}

fn main() {
    let args = proto::args();
    if args.suite != "pool" {
        proto::fail("the rayon peer runs only the pool suite");
    }
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
    {
        Ok(p) => p,
        Err(e) => proto::fail(&format!("ThreadPoolBuilder: {}", e)),
    };
    let max = args.n;
    // for_sum and for_map: a[i] = i, and for_map the output b, written
    // here (untimed) so that no page is first touched inside a run.
    let (a, mut b) = match args.bench.as_str() {
        "for_sum" => ((0..max).collect(), Vec::new()),
        "for_map" => ((0..max).collect(), vec![-1; max as usize]),
        "fib" | "skynet" | "submit" => (Vec::new(), Vec::new()),
        "nqueens" if max <= NQUEENS_MAX => (Vec::new(), Vec::new()),
        "nqueens" => proto::fail("nqueens: n is at most 16"),
        other => proto::fail(&format!("the rayon peer cannot run {}", other)),
    };
    let bench = args.bench.clone();
    proto::serve(max, |m| {
        let u = m as usize;
        Ok(match bench.as_str() {
            "fib" => pool.install(|| fib(m)),
            "skynet" => pool.install(|| skynet(Skynet { num: 0, size: m })),
            "nqueens" => pool.install(|| {
                nqueens(Board {
                    n: m as u32,
                    row: 0,
                    cols: 0,
                    d1: 0,
                    d2: 0,
                })
            }),
            "for_sum" => pool.install(|| a[..u].par_iter().sum::<i64>()),
            "submit" => {
                // Relaxed: no task runs between runs; the scope's end
                // orders every task's increment before the load.
                COUNT.store(0, Ordering::Relaxed);
                pool.in_place_scope(|sc| {
                    for _ in 0..m {
                        sc.spawn(|_| {
                            COUNT.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
                COUNT.load(Ordering::Relaxed)
            }
            _ => {
                if u == 0 {
                    return Err("for_map needs n >= 1".to_string());
                }
                pool.install(|| {
                    b[..u]
                        .par_iter_mut()
                        .zip(a[..u].par_iter())
                        .for_each(|(y, &x)| *y = map_one(x))
                });
                b[0] + b[u / 2] + b[u - 1]
            }
        })
    });
}
