// SPDX-License-Identifier: MIT
//! spool-bench-loop's workloads (compare/loop/peer.h) on tokio's
//! current-thread runtime, one workload per process:
//!
//!   switch    100 tasks each calling `yield_now` n / 100 times.
//!   timers    n tasks, each awaiting `sleep_until` of its deadline (tokio
//!             has no timer callbacks: a timer is a future in a task), all
//!             spawned inside the timed part; each checks on waking that
//!             its deadline has passed.
//!   pingpong  a client task and an echo task over a TCP connection on
//!             127.0.0.1 with TCP_NODELAY, made before `ready`.
//!   sleepers  n tasks each awaiting `sleep` of 100 ms, all at once.
//!   wakeups   another std thread spawns a task onto the runtime through
//!             its Handle and waits until that task has run, n times.
//!
//! Each run's answer is the number of units done (yields, timers fired,
//! round trips, sleepers, wake-ups); the driver checks it.

use std::sync::atomic::{AtomicI64, AtomicPtr, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::proto;

const COROUTINES: i64 = 100;
const MSG: usize = 64;
const SLEEP_MS: u64 = 100;

fn timer_delay_ms(i: i64) -> u64 {
    ((i * 7919) % 100) as u64
}

// Statics rather than reference-counted state, so that no task pays for a
// reference count the C peers do not have. The runtime has one thread, but
// a task must be Send to be spawned onto it: atomics, Relaxed throughout
// (one thread touches them while the loop runs; the driver reads them after
// block_on returned).
static DONE: AtomicI64 = AtomicI64::new(0);
static EARLY: AtomicI64 = AtomicI64::new(0);
static TARGET: AtomicI64 = AtomicI64::new(0);
/// What the last unit notifies: made once in main() and never freed
/// (Notify::const_new needs a tokio feature Debian's build may lack).
static FINISHED: AtomicPtr<Notify> = AtomicPtr::new(std::ptr::null_mut());

fn finished() -> &'static Notify {
    // Acquire: pairs with the Release store in main(), before any task.
    let p = FINISHED.load(Ordering::Acquire);
    // SAFETY: set to a leaked Box before any task or thread runs.
    unsafe { &*p }
}

/// Counts one unit; the last one wakes the waiting block_on. Notify keeps a
/// permit when nobody waits yet, so that wake-up cannot be lost.
fn done_one() {
    if DONE.fetch_add(1, Ordering::Relaxed) + 1 == TARGET.load(Ordering::Relaxed) {
        finished().notify_one();
    }
}

/// The wakeups semaphore: the woken task posts, the waking thread waits.
static POSTED: Mutex<u64> = Mutex::new(0);
static POSTED_CV: Condvar = Condvar::new();

fn post() {
    let mut p = POSTED.lock().unwrap();
    *p += 1;
    POSTED_CV.notify_one();
}

fn wait_post() {
    let mut p = POSTED.lock().unwrap();
    while *p == 0 {
        p = POSTED_CV.wait(p).unwrap();
    }
    *p -= 1;
}

async fn echo(mut s: TcpStream, n: i64) -> std::io::Result<()> {
    let mut buf = [0u8; MSG];
    for _ in 0..n {
        s.read_exact(&mut buf).await?;
        s.write_all(&buf).await?;
    }
    Ok(())
}

async fn client(s: &mut TcpStream, n: i64) -> Result<i64, String> {
    let mut out = [0u8; MSG];
    let mut back = [0u8; MSG];
    for i in 0..n {
        out.fill((i & 0x7f) as u8);
        s.write_all(&out).await.map_err(|e| e.to_string())?;
        s.read_exact(&mut back).await.map_err(|e| e.to_string())?;
        if back != out {
            return Err(format!("round trip {}: wrong reply", i));
        }
    }
    Ok(n)
}

pub fn main(args: &proto::Args) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => proto::fail(&format!("tokio runtime: {}", e)),
    };
    let n = args.n;
    FINISHED.store(Box::into_raw(Box::new(Notify::new())), Ordering::Release);
    // pingpong: the connection, made before the clock starts.
    let mut conn: Option<(TcpStream, TcpStream)> = None;
    match args.bench.as_str() {
        "switch" | "timers" | "sleepers" | "wakeups" => {}
        "pingpong" => {
            let made = rt.block_on(async {
                let l = TcpListener::bind("127.0.0.1:0").await?;
                let c = TcpStream::connect(l.local_addr()?).await?;
                let (s, _) = l.accept().await?;
                c.set_nodelay(true)?;
                s.set_nodelay(true)?;
                Ok::<_, std::io::Error>((c, s))
            });
            match made {
                Ok(p) => conn = Some(p),
                Err(e) => proto::fail(&format!("pingpong connection: {}", e)),
            }
        }
        other => proto::fail(&format!("the tokio loop peer cannot run {}", other)),
    }
    let bench = args.bench.clone();
    proto::serve(n, |m| {
        DONE.store(0, Ordering::Relaxed);
        EARLY.store(0, Ordering::Relaxed);
        TARGET.store(m, Ordering::Relaxed);
        match bench.as_str() {
            "switch" => rt.block_on(async {
                let k = m / COROUTINES;
                let mut joins = Vec::with_capacity(COROUTINES as usize);
                for _ in 0..COROUTINES {
                    joins.push(tokio::spawn(async move {
                        for _ in 0..k {
                            tokio::task::yield_now().await;
                        }
                        k
                    }));
                }
                let mut yields = 0;
                for j in joins {
                    yields += j.await.map_err(|e| e.to_string())?;
                }
                Ok(yields)
            }),
            "timers" => rt.block_on(async {
                if m == 0 {
                    return Ok(0);
                }
                for i in 0..m {
                    let deadline = Instant::now() + Duration::from_millis(timer_delay_ms(i));
                    tokio::spawn(async move {
                        tokio::time::sleep_until(deadline).await;
                        if Instant::now() < deadline {
                            EARLY.fetch_add(1, Ordering::Relaxed);
                        }
                        done_one();
                    });
                }
                finished().notified().await;
                let early = EARLY.load(Ordering::Relaxed);
                if early != 0 {
                    return Err(format!("{} of {} timers fired early", early, m));
                }
                Ok(DONE.load(Ordering::Relaxed))
            }),
            "pingpong" => {
                let (mut c, s) = match conn.take() {
                    Some(p) => p,
                    None => return Err("pingpong runs once per process".to_string()),
                };
                rt.block_on(async {
                    let server = tokio::spawn(echo(s, m));
                    let r = client(&mut c, m).await;
                    match server.await {
                        Ok(Ok(())) => r,
                        Ok(Err(e)) => Err(format!("echo: {}", e)),
                        Err(e) => Err(format!("echo task: {}", e)),
                    }
                })
            }
            "sleepers" => rt.block_on(async {
                if m == 0 {
                    return Ok(0);
                }
                for _ in 0..m {
                    tokio::spawn(async {
                        tokio::time::sleep(Duration::from_millis(SLEEP_MS)).await;
                        done_one();
                    });
                }
                finished().notified().await;
                Ok(DONE.load(Ordering::Relaxed))
            }),
            _ => {
                // wakeups: the other thread wakes the runtime with a task
                // each time, and waits until the task has run.
                let handle = rt.handle().clone();
                let waker = std::thread::spawn(move || {
                    for _ in 0..m {
                        handle.spawn(async {
                            DONE.fetch_add(1, Ordering::Relaxed);
                            post();
                        });
                        wait_post();
                    }
                    handle.spawn(async { finished().notify_one() });
                });
                rt.block_on(finished().notified());
                if waker.join().is_err() {
                    return Err("the waking thread panicked".to_string());
                }
                Ok(DONE.load(Ordering::Relaxed))
            }
        }
    });
}
