/* SPDX-License-Identifier: MIT */
/*
 * Shared memory with store buffers (x86-TSO) for the pool's SPIN models.
 *
 * SPIN interleaves whole statements: on its own it checks a protocol under
 * sequential consistency, where the pool's seq_cst fences change nothing
 * and removing one cannot be seen to break anything. The fences exist for
 * one reordering only: a store followed by a load of another location
 * (the Dekker pattern of deque pop against steal, and of a submitter
 * against a worker going to sleep). A store buffer per thread is the
 * machine that makes that reordering: a store goes into the thread's
 * buffer (FIFO), reaches memory at some later step of the checker's
 * choosing (the thread's flusher process), and the thread's own loads read
 * the newest buffered value of their address first (store forwarding).
 *
 * What each C operation becomes:
 *   plain store (any memory_order, incl. release)  store(): buffered
 *   load (any memory_order)                         load(): forwarding,
 *                                                   else memory
 *   atomic_thread_fence(seq_cst)                    fence(): the thread's
 *                                                   buffer drains
 *   read-modify-write (CAS, fetch_add, exchange,    drain(), then the
 *   mutex lock, ck_ec inc)                          operation on memory,
 *                                                   in one d_step
 *   membarrier(PRIVATE_EXPEDITED)                   membarrier(): see below
 *
 * This is x86-TSO (Owens, Sarkar, Sewell, "A better x86 memory model",
 * TPHOLs 2009). It is weaker than sequential consistency exactly where the
 * fences matter, and stronger than C11: it does not reorder two loads, two
 * stores, or a load and a later store, it is multi-copy atomic, and its
 * read-modify-writes are full barriers. So a fence that only orders two
 * loads (the thief's fence in steal, between its loads of top and bottom)
 * cannot be shown necessary here, and a pass is a proof for the x86
 * machine, not for every C11 implementation. See docs/design/pool.md.
 *
 * A file that includes this one defines NT (threads with a buffer, ids
 * 0..NT-1), NVARS (addresses in mem[]) and may define BUF (buffer depth);
 * it names its addresses for trails by filling aname[] with mtype names
 * (declared before the #include). Each thread runs its flusher(id)
 * process. Inlines use the globals _k and _j as scratch; they are only
 * touched inside d_steps and reset to 0, so they never tell two states
 * apart.
 *
 * The printf()s tell a replayed counterexample (spin -t) as a story: one
 * line per memory operation. The verifier does not run them.
 */
#ifndef BUF
#define BUF 3
#endif

typedef Buffer {
	byte addr[BUF];
	short val[BUF];
	byte n
};

short mem[NVARS];
Buffer buf[NT];
mtype aname[NVARS]; /* constant: the addresses' names, for trails */
byte _k, _j;

/* Moves thread tid's oldest buffered store to memory. Inside a d_step. */
inline flush_one(tid)
{
	mem[buf[tid].addr[0]] = buf[tid].val[0];
	printf("      t%d: %e = %d reaches memory\n", tid,
	       aname[buf[tid].addr[0]], buf[tid].val[0]);
	_k = 1;
	do
	:: _k < buf[tid].n ->
		buf[tid].addr[_k - 1] = buf[tid].addr[_k];
		buf[tid].val[_k - 1] = buf[tid].val[_k];
		_k++
	:: else -> break
	od;
	buf[tid].n--;
	buf[tid].addr[buf[tid].n] = 0;
	buf[tid].val[buf[tid].n] = 0;
	_k = 0
}

/* Empties thread tid's buffer into memory. Inside a d_step. */
inline drain(tid)
{
	do
	:: buf[tid].n > 0 -> flush_one(tid)
	:: else -> break
	od
}

/* val_ = the value thread tid reads at address adr. One step. */
inline load(tid, adr, val_)
{
	d_step {
		val_ = mem[adr];
		_j = 0;
		do
		:: _j < buf[tid].n ->
			if
			:: buf[tid].addr[_j] == adr -> val_ = buf[tid].val[_j]
			:: else -> skip
			fi;
			_j++
		:: else -> break
		od;
		_j = 0;
		printf("t%d: reads %e = %d\n", tid, aname[adr], val_)
	}
}

/* Thread tid stores val_ at address adr. One step; waits while the buffer
 * is full (a real buffer is deeper; a shallow one only removes
 * schedules). */
inline store(tid, adr, val_)
{
	d_step {
		buf[tid].n < BUF ->
		buf[tid].addr[buf[tid].n] = adr;
		buf[tid].val[buf[tid].n] = val_;
		buf[tid].n++;
		printf("t%d: stores %e = %d (buffered)\n", tid, aname[adr],
		       val_)
	}
}

/* atomic_thread_fence(memory_order_seq_cst) in thread tid. */
inline fence(tid)
{
	d_step {
		printf("t%d: seq_cst fence\n", tid);
		drain(tid)
	}
}

/* A buffered store reaches memory whenever the checker chooses. */
proctype flusher(byte t)
{
end:	do
	:: d_step { buf[t].n > 0 -> flush_one(t) }
	od
}

/*
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), called by thread tid: a
 * full barrier in tid, and in every other thread at some instant while the
 * call lasts, each at its own instant, in any order (the kernel interrupts
 * each CPU separately; a thread not running passed a barrier when it was
 * switched out). `done` is a local byte of the caller's process.
 */
#if NT > 6
#error "membarrier() below covers 6 threads"
#endif
#define MB_ALL ((1 << NT) - 1)
#define MB_ONE(u) :: (u) < NT && !(done & (1 << (u))) -> d_step { \
		printf("      t%d: a barrier (membarrier's)\n", u); \
		drain(u); \
		done = done | (1 << (u)) }

inline membarrier(tid, done)
{
	d_step {
		printf("t%d: membarrier\n", tid);
		drain(tid);
		done = 1 << (tid)
	};
	do
	MB_ONE(0)
	MB_ONE(1)
	MB_ONE(2)
	MB_ONE(3)
	MB_ONE(4)
	MB_ONE(5)
	:: done == MB_ALL -> break
	od;
	done = 0
}
