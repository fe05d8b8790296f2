// SPDX-License-Identifier: MIT
//! spool-bench-pool's submit on tokio's multi-thread runtime: a thread
//! outside the runtime spawns n tasks that each add one to a counter, then
//! joins them all; the answer is the count.

use std::sync::atomic::{AtomicI64, Ordering};
use tokio::task::JoinHandle;

use crate::proto;

/// The tasks' counter: a static, as in the C peers, so that no task
/// carries a reference count to update.
static COUNT: AtomicI64 = AtomicI64::new(0);

pub fn main(args: &proto::Args) {
    if args.bench != "submit" {
        proto::fail(&format!("the tokio pool peer cannot run {}", args.bench));
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => proto::fail(&format!("tokio runtime: {}", e)),
    };
    let handle = rt.handle().clone();
    // Room for every JoinHandle, its pages touched here (untimed), as the
    // C peers allocate their futures' array before the clock starts.
    let mut joins: Vec<JoinHandle<()>> = Vec::with_capacity(args.n as usize);
    // SAFETY: writes zero bytes into the Vec's spare capacity, which it
    // owns; the length stays 0, so no JoinHandle is ever read from them.
    unsafe { std::ptr::write_bytes(joins.as_mut_ptr(), 0, joins.capacity()) };
    proto::serve(args.n, |m| {
        // Relaxed: no task runs between runs, and spawning publishes the
        // store to the tasks.
        COUNT.store(0, Ordering::Relaxed);
        for _ in 0..m {
            joins.push(handle.spawn(async {
                // Relaxed: the count is read after every JoinHandle was
                // awaited, which orders the tasks' effects before it.
                COUNT.fetch_add(1, Ordering::Relaxed);
            }));
        }
        let joined = rt.block_on(async {
            for j in joins.drain(..) {
                if let Err(e) = j.await {
                    return Err(format!("a task failed: {}", e));
                }
            }
            Ok(())
        });
        joined.map(|()| COUNT.load(Ordering::Relaxed))
    });
}
