// SPDX-License-Identifier: MIT
//! tokio on two benchmark suites, driven over a pipe (see proto.rs):
//!
//!   pool  submit: the program's main thread, which is not a runtime
//!         worker, spawns n tiny tasks onto a multi-thread runtime of the
//!         suite's thread count with `Handle::spawn`, then awaits every
//!         JoinHandle (block_on on that same outside thread);
//!         compare/pool/peer_ext.c.
//!   loop  switch, timers, pingpong, sleepers and wakeups on the
//!         current-thread runtime (the counterpart of one event loop);
//!         compare/loop/peer_ext.c.

#[path = "../../common/proto.rs"]
mod proto;

mod event_loop;
mod pool;

fn main() {
    let args = proto::args();
    match args.suite.as_str() {
        "pool" => pool::main(&args),
        "loop" => event_loop::main(&args),
        other => proto::fail(&format!("no suite {}", other)),
    }
}
