/* SPDX-License-Identifier: MIT */
/*
 * Model (b): how idle workers park and submitters wake them
 * (src/pool/park.c, worker.c, pool.c, pool_impl.h), on the x86-TSO memory
 * of tso.pml, checking that no wake-up is lost: there is no reachable
 * state where a task is queued, every worker is asleep and no wake is on
 * its way (SPIN's timeout: nothing can move), and every task made was run.
 *
 * Processes and the C they mirror, step for step (one Promela step per C
 * statement that touches shared memory, in the C code's order):
 *   worker(w)     spool__worker_main (worker.c): find_task, search,
 *                 watch, spool__idle_park, and running a task, which may
 *                 spawn a child (pool_submit from a worker: push onto the
 *                 own deque, then spool__idle_notify);
 *   submitter(s)  submit_outside (pool.c): spool__inject_push, then
 *                 spool__idle_notify; with JOBS, spool__pool_push_job
 *                 (pool.c) instead: a job into the job queue, then
 *                 spool__idle_notify;
 *   flusher(t)    the store buffer of thread t (tso.pml).
 * The inlines below carry the C function's name they mirror.
 *
 * The work sources, each modelled separately (park.c lists them; the
 * marker comments "work-source: <name>" in may_have_work() below are
 * compared with that list and with spool__pool_may_have_work() by
 * test/model/work_sources.sh):
 *   inject  the injection queue: inj counts the items whose exchange on
 *           the tail is done and that no consumer has taken. maybe_nonempty
 *           reads it (the C reads tail and head; it answers true for every
 *           such item, and also in some states in between, so the model's
 *           answer is never more often true than the C's). A pop may
 *           answer RETRY whenever the queue is not empty: a half-done push
 *           or the consumer lock held elsewhere (the C) and Concurrency
 *           Kit's spurious failures (which park.c's argument tolerates).
 *   deque   each worker's Chase-Lev deque, its top and bottom in memory,
 *           with pop, push and steal as in deque.h (model (a) checks the
 *           deque itself; its slots are left out here, tasks are alike,
 *           and so are jobs: a join half or a scope spawn is an entry
 *           like a task).
 *   jobs    the job queue (jobs handed in from outside the pool: joins,
 *           scopes, loops): jobq counts its items as inj does; a worker
 *           takes one job at a time when the injection queue gives it
 *           nothing (worker.c, take_job), in one step or RETRY.
 *
 * Simplifications, each removing no schedule that matters here: the
 * injection fairness tick (INJECT_EVERY = 61 tasks, more than the model
 * makes); one search round for SEARCH_ROUNDS (each round is the same
 * find_elsewhere); one look for watch()'s 64 (a look only reads); the
 * submission gate is not modelled, nor shutdown unless SHUTDOWN; the consumer
 * side of the injection queue takes an item in one step. ck_ec is an
 * event count: inc is a locked increment, wait returns once the count
 * differs from the value read (its futex and waiter flag are Concurrency
 * Kit's, not modelled).
 *
 * Options (spin -D...):
 *   NW=n          workers (default 2)
 *   NS=n          outside submitters, one task each (default 1)
 *   NSPAWN=n      tasks spawned by running tasks, in all (default 1)
 *   FALLBACK      both halves of the asymmetric fence are full fences
 *                 (fence.h: a kernel without membarrier)
 *   JOBS          the submitters hand in jobs (the job queue) instead of
 *                 tasks (the injection queue)
 *   SHUTDOWN      the last submitter then shuts the pool down
 *                 (spool_pool_shutdown: close_gate, draining, wake_all),
 *                 and workers leave as spool__worker_main does. This finds
 *                 a fault of the pool (docs/design/pool.md, "A finding"):
 *                 a worker leaves while a running task's child waits in
 *                 its worker's deque; if the task blocks on the child
 *                 without helping, nothing runs the child.
 *   NO_BLOCKING_SPAWN  spawners never block (with SHUTDOWN the search
 *                 then passes, but it is some five times park's, so it is
 *                 not in ./run model)
 * Broken variants, each of which the check must fail (./run model runs
 * them and fails if SPIN passes one):
 *   NO_PARK_FENCE        spool__idle_park without P2
 *   NO_RECHECK           spool__idle_park without P3
 *   NO_RECHECK_INJECT    P3 without the injection queue
 *   NO_RECHECK_DEQUE     P3 without the deques
 *   NO_RECHECK_JOBS      P3 without the job queue (with JOBS)
 *   NO_NOTIFY_FENCE      spool__idle_notify without N1 (with FALLBACK;
 *                        with membarrier N1 is already only a compiler
 *                        barrier)
 */
#ifndef NW
#define NW 2
#endif
#ifndef NS
#define NS 1
#endif
#ifndef NSPAWN
#define NSPAWN 1
#endif
#define NT (NW + NS) /* workers 0..NW-1, submitters NW..NT-1 */
#define NONE 255

/* Addresses in mem[]: what plain stores write. */
#define MU 0             /* p->sleep_mu (its unlock is a release store) */
#define INJ_LOCK 1       /* p->inj.consumer (cleared by a release store) */
#define SLEEPING(w) (2 + (w))    /* p->workers[w].sleeping */
#define TOP(w) (2 + NW + (w))    /* p->workers[w].dq.top */
#define BOTTOM(w) (2 + 2 * NW + (w)) /* p->workers[w].dq.bottom */
#define DRAINING (2 + 3 * NW) /* p->draining */
#define NVARS (3 + 3 * NW)
#if NW > 3
#error "name more addresses in init"
#endif

mtype = { draining, sleep_mu, inj_lock, sleeping0, sleeping1, sleeping2, top0, top1,
	  top2, bottom0, bottom1, bottom2 };

#include "tso.pml"

/* Written only by read-modify-writes, so always current in memory. */
byte idle_s;     /* p->idle, low half: searching workers */
byte idle_p;     /* p->idle, high half: parked workers */
byte inj;        /* p->inj: items pushed (exchange done), not yet taken */
byte jobq;       /* p->jobs: the same for the job queue */
byte ec[NW];     /* p->workers[w].ec, ck_ec32 */

/* Under sleep_mu only: p->sleepers, a LIFO list (sl[nsl - 1] is first). */
byte sl[NW];
byte nsl;

/* Ghosts: tasks made and run, spawns still allowed, submitters done. */
byte created, ran, submitted;
byte spawns = NSPAWN;

/* ---- memory operations on idle -------------------------------------------- */

/* pthread_mutex_lock(&p->sleep_mu): a locked read-modify-write. */
inline lock(me)
{
	d_step { drain(me) };
	d_step {
		mem[MU] == 0 -> mem[MU] = me + 1;
		printf("t%d: locks sleep_mu\n", me)
	}
}

/* pthread_mutex_unlock(&p->sleep_mu): a release store. */
inline unlock(me)
{
	store(me, MU, 0)
}

/* ck_ec32_inc(&w->ec, &ec_mode): a locked increment. */
inline ec_inc(me, w)
{
	d_step {
		drain(me);
		ec[w]++;
		printf("t%d: ck_ec32_inc(w%d)\n", me, w)
	}
}

/* unlist + claim (park.c), under sleep_mu: who from parked to searching. */
inline claim(by, who)
{
	d_step {
		/* unlist(p, w) */
		_k = 0;
		do
		:: sl[_k] == who -> break
		:: else -> _k++
		od;
		do
		:: _k + 1 < nsl -> sl[_k] = sl[_k + 1]; _k++
		:: else -> break
		od;
		nsl--;
		sl[nsl] = 0;
		_k = 0
	};
	/* fetch_add(&p->idle, SEARCHING - PARKED, seq_cst) */
	d_step {
		drain(by);
		idle_s++;
		idle_p--;
		printf("t%d: claims w%d (searching %d, parked %d)\n", by, who,
		       idle_s, idle_p)
	};
	/* store(&w->sleeping, false, release) */
	store(by, SLEEPING(who), 0)
}

/* spool__idle_wake_one(p) */
inline wake_one(me)
{
	lock(me);
	/* s = load(&p->idle, relaxed); if (searching(s) == 0 && sleepers) */
	if
	:: idle_s == 0 && nsl > 0 -> w = sl[nsl - 1]; claim(me, w)
	:: else -> w = NONE
	fi;
	unlock(me);
	if
	:: w != NONE -> ec_inc(me, w)
	:: else -> skip
	fi;
	w = 0
}

/* spool__idle_notify(p) (pool_impl.h) */
inline notify(me)
{
	/* N1: spool__fence_light() */
#if defined(FALLBACK) && !defined(NO_NOTIFY_FENCE)
	fence(me);
#endif
	/* N2: s = load(&p->idle, relaxed); N3 */
	if
	:: atomic { idle_s == 0 && idle_p != 0 ->
		printf("t%d: notify sees searching 0, parked %d\n", me,
		       idle_p) };
		wake_one(me)
	:: atomic { else ->
		printf("t%d: notify sees searching %d, parked %d: no wake\n",
		       me, idle_s, idle_p) }
	fi
}

/* ---- the deques (deque.h, without slots) ----------------------------------- */

/* spool__deque_push(&w->dq, t), owner me */
inline deque_push(me)
{
	printf("t%d: pushes a task onto its deque\n", me);
	load(me, BOTTOM(me), b);
	load(me, TOP(me), t);
	store(me, BOTTOM(me), b + 1);
	b = 0;
	t = 0
}

/* got = spool__deque_pop(&w->dq) != NULL, owner me */
inline deque_pop(me)
{
	load(me, BOTTOM(me), b);
	b = b - 1;
	store(me, BOTTOM(me), b);
	fence(me);
	load(me, TOP(me), t);
	if
	:: t > b -> store(me, BOTTOM(me), b + 1)
	:: t == b ->
		d_step {
			drain(me);
			if
			:: mem[TOP(me)] == t -> mem[TOP(me)] = t + 1; got = 1
			:: else -> skip
			fi
		};
		store(me, BOTTOM(me), b + 1)
	:: t < b -> got = 1
	fi;
	b = 0;
	t = 0
}

/* got = spool__deque_steal(&v->dq, &x) == SPOOL__STEAL_ITEM */
inline deque_steal(me, v)
{
	load(me, TOP(v), t);
	fence(me);
	load(me, BOTTOM(v), b);
	if
	:: t >= b -> skip
	:: else ->
		d_step {
			drain(me);
			if
			:: mem[TOP(v)] == t -> mem[TOP(v)] = t + 1; got = 1
			:: else -> skip
			fi
		}
	fi;
	b = 0;
	t = 0
}

/* ---- worker.c ----------------------------------------------------------- */

/* take_injected(w) */
inline take_injected(me)
{
	/* spool__inject_maybe_nonempty(&p->inj) && spool__inject_trylock */
	if
	:: inj > 0 ->
		d_step {
			drain(me);
			if
			:: mem[INJ_LOCK] == 0 -> mem[INJ_LOCK] = 1; ok = 1
			:: else -> ok = 0
			fi
		}
	:: else -> ok = 0
	fi;
	if
	:: ok ->
		moved = 0;
		/* while (spool__inject_pop_locked() == SPOOL__INJECT_ITEM) */
		do
		:: d_step { inj > 0 -> inj--;
			printf("t%d: takes a task from inject\n", me) };
			if
			:: !got -> got = 1 /* first */
			:: else -> deque_push(me); moved++
			fi
		:: inj > 0 -> break /* SPOOL__INJECT_RETRY */
		:: inj == 0 -> break /* SPOOL__INJECT_EMPTY */
		od;
		/* spool__inject_unlock: release store */
		store(me, INJ_LOCK, 0);
		if
		:: moved > 0 -> notify(me)
		:: else -> skip
		fi;
		moved = 0;
		ok = 0
	:: else -> skip
	fi;
	/* take_job(w), when the injection queue gave nothing: one job, or
	 * RETRY (a half-done push, the consumer lock held elsewhere) */
	if
	:: !got ->
		if
		:: d_step { jobq > 0 -> jobq--; got = 1;
			printf("t%d: takes a job from the job queue\n", me) }
		:: jobq > 0 -> skip
		:: jobq == 0 -> skip
		fi
	:: else -> skip
	fi
}

/* steal_round(w): one steal attempt on each other worker, from a random
 * one on. */
inline steal_round(me)
{
	if
	:: v = 0
	:: NW > 1 -> v = 1
	:: NW > 2 -> v = 2
	fi;
	i = 0;
	do
	:: i < NW && !got ->
		if
		:: v != me -> deque_steal(me, v)
		:: else -> skip
		fi;
		v = (v + 1) % NW;
		i++
	:: else -> break
	od;
	i = 0;
	v = 0
}

/* find_elsewhere(w) */
inline find_elsewhere(me)
{
	take_injected(me);
	if
	:: !got -> steal_round(me)
	:: else -> skip
	fi
}

/* spool__pool_may_have_work(p) (park.c), into r */
inline may_have_work(me)
{
	r = 0;
#ifndef NO_RECHECK_INJECT
	/* work-source: inject */
	d_step {
		/* spool__inject_maybe_nonempty(&p->inj) */
		r = (inj > 0);
		printf("t%d: reads inject: %d queued\n", me, inj)
	};
#endif
#ifndef NO_RECHECK_DEQUE
	/* work-source: deque */
	i = 0;
	do
	:: !r && i < NW ->
		/* spool__deque_size(&p->workers[i].dq) > 0 */
		load(me, TOP(i), t);
		load(me, BOTTOM(i), b);
		if
		:: b > t -> r = 1
		:: else -> skip
		fi;
		i++
	:: else -> break
	od;
	i = 0;
	b = 0;
	t = 0;
#endif
#ifndef NO_RECHECK_JOBS
	/* work-source: jobs */
	if
	:: !r -> d_step {
			/* spool__inject_maybe_nonempty(&p->jobs) */
			r = (jobq > 0);
			printf("t%d: reads the job queue: %d queued\n", me,
			       jobq)
		}
	:: else -> skip
	fi
#else
	skip
#endif
}

/* P3 and watch(): "|| atomic_load(&p->draining, relaxed)" */
inline draining_too(me)
{
#ifdef SHUTDOWN
	if
	:: !r -> load(me, DRAINING, r)
	:: else -> skip
	fi
#else
	skip
#endif
}

/* Runs a task: counts it, and maybe spawns a child (pool_submit from a
 * worker: spool__deque_push, then spool__idle_notify). A spawner may then
 * return, or block until every task made so far has run, without helping
 * (spawn_and_block in test_pool_stress.c): then only another worker can
 * run the child, which must be stolen, and a lost wake-up leaves it in the
 * deque of a worker that will not come back for it. */
inline run_task(me)
{
	d_step { ran++; printf("t%d: runs a task\n", me) };
	if
	:: d_step { spawns > 0 -> spawns--; created++ };
		deque_push(me);
		notify(me);
#ifndef NO_BLOCKING_SPAWN
		if
		:: skip
		:: printf("t%d: blocks until the child has run\n", me);
			ran == created
		fi
#endif
	:: skip
	fi
}

proctype worker(byte me)
{
	bool searching, got, ok;
	short b, t;
	byte i, v, r, e, w, moved, done;

loop:
	/* find_task(w): the own deque, then find_elsewhere */
	got = 0;
	printf("t%d: find_task\n", me);
	deque_pop(me);
	if
	:: !got -> find_elsewhere(me)
	:: else -> skip
	fi;
	/* search(w) */
	if
	:: !got ->
		if
		:: !searching ->
			/* spool__idle_try_search(w) */
			d_step {
				drain(me);
				if
				:: idle_s > 0 && 2 * idle_s >= NW -> skip
				:: else -> idle_s++; searching = 1;
					printf("t%d: searches\n", me)
				fi
			}
		:: else -> skip
		fi;
		if
		:: searching -> find_elsewhere(me)
		:: else -> skip
		fi
	:: else -> skip
	fi;
	if
	:: got ->
		if
		:: searching ->
			/* spool__idle_found_work(w) */
			searching = 0;
			d_step {
				drain(me);
				r = idle_s;
				idle_s--
			};
			if
			:: r == 1 -> notify(me)
			:: else -> skip
			fi;
			r = 0
		:: else -> skip
		fi;
		run_task(me);
		goto loop
	:: else -> skip
	fi;
#ifdef SHUTDOWN
	/* if (draining (acquire) && !spool__inject_maybe_nonempty) break */
	load(me, DRAINING, v);
	if
	:: v && inj == 0 && jobq == 0 -> goto leave
	:: else -> v = 0
	fi;
#endif
	/* watch(w) */
	printf("t%d: watch\n", me);
	may_have_work(me);
	draining_too(me);
	if
	:: r -> r = 0; goto loop
	:: else -> skip
	fi;

	/* spool__idle_park(w) */
	/* P1 */
	lock(me);
	d_step {
		drain(me);
		idle_p++;
		if
		:: searching -> idle_s--
		:: else -> skip
		fi;
		searching = 0;
		printf("t%d: P1 (searching %d, parked %d)\n", me, idle_s,
		       idle_p)
	};
	store(me, SLEEPING(me), 1);
	d_step { sl[nsl] = me; nsl++ };
	unlock(me);
	/* P2: spool__fence_heavy() */
#ifndef NO_PARK_FENCE
#ifdef FALLBACK
	fence(me);
#else
	membarrier(me, done);
#endif
#endif
	/* P3 */
#ifndef NO_RECHECK
	printf("t%d: P3\n", me);
	may_have_work(me);
	draining_too(me);
	if
	:: r ->
		printf("t%d: P3 finds work\n", me);
		lock(me);
		load(me, SLEEPING(me), v);
		if
		:: v -> claim(me, me)
		:: else -> skip
		fi;
		unlock(me);
		d_step { searching = 1; r = 0; v = 0 };
		goto loop
	:: else -> skip
	fi;
#endif
	/* P4 */
	printf("t%d: P4 sleeps\n", me);
	do
	:: e = ec[me];
		load(me, SLEEPING(me), v);
		if
		:: !v -> break
		:: else -> skip
		fi;
		/* ck_ec32_wait(&w->ec, &ec_mode, e, NULL) */
end_asleep:	ec[me] != e
	od;
	atomic { searching = 1; e = 0; v = 0; printf("t%d: awake\n", me) };
	goto loop;
leave:
	/* spool__idle_leave(w) */
	printf("t%d: leaves\n", me);
	if
	:: searching -> d_step { drain(me); idle_s--; searching = 0 }
	:: else -> skip
	fi
}

/* submit_outside(p, ...) (pool.c), the gate left out */
proctype submitter(byte me)
{
	byte w;
	/* spool__inject_push: the exchange on the tail (its link comes
	 * later, but maybe_nonempty already counts the item) */
#ifdef JOBS
	/* spool__pool_push_job: the job queue's exchange on its tail */
	d_step {
		drain(me);
		jobq++;
		created++;
		printf("t%d: hands a job to the job queue\n", me)
	};
#else
	d_step {
		drain(me);
		inj++;
		created++;
		printf("t%d: pushes a task into inject\n", me)
	};
#endif
	notify(me);
#ifdef SHUTDOWN
	/* The last submitter then calls spool_pool_shutdown(p, WAIT) (or
	 * destroy): close_gate waits for the other submitters' pushes. */
	if
	:: me == NT - 1 ->
		d_step { submitted++ };
		submitted == NS;
		/* atomic_store(&p->draining, true, seq_cst): an xchg */
		d_step {
			drain(me);
			mem[DRAINING] = 1;
			printf("t%d: shutdown: draining\n", me)
		};
		/* spool__idle_wake_all(p) */
		lock(me);
		do
		:: nsl > 0 -> w = sl[nsl - 1]; claim(me, w)
		:: else -> break
		od;
		unlock(me);
		w = 0;
		do
		:: w < NW -> ec_inc(me, w); w++
		:: else -> break
		od;
		w = 0
	:: else -> d_step { submitted++ }
	fi
#endif
}

/* When nothing can move any more (every worker asleep, every submitter
 * done, every buffer flushed, no wake on its way), no task may be left:
 * none queued in a source, and every task made has run. */
byte queued;     /* set by the monitor only, at the end */

proctype monitor()
{
	byte i;
	timeout;
	d_step {
		queued = inj + jobq;
		i = 0;
		do
		:: i < NW ->
			if
			:: mem[BOTTOM(i)] > mem[TOP(i)] ->
				queued = queued + mem[BOTTOM(i)] - mem[TOP(i)]
			:: else -> skip
			fi;
			i++
		:: else -> break
		od;
		i = 0;
		printf("nothing can move: %d queued (%d in inject, %d in jobs), ran %d of %d\n",
		       queued, inj, jobq, ran, created);
		assert(queued == 0);
		assert(ran == created)
	}
}

init
{
	byte i;
	atomic {
		aname[MU] = sleep_mu;
		aname[DRAINING] = draining;
		aname[INJ_LOCK] = inj_lock;
		aname[SLEEPING(0)] = sleeping0;
		aname[TOP(0)] = top0;
		aname[BOTTOM(0)] = bottom0;
#if NW > 1
		aname[SLEEPING(1)] = sleeping1;
		aname[TOP(1)] = top1;
		aname[BOTTOM(1)] = bottom1;
#endif
#if NW > 2
		aname[SLEEPING(2)] = sleeping2;
		aname[TOP(2)] = top2;
		aname[BOTTOM(2)] = bottom2;
#endif
		i = 0;
		do
		:: i < NT -> run flusher(i); i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NW -> run worker(i); i++
		:: else -> break
		od;
		do
		:: i < NT -> run submitter(i); i++
		:: else -> break
		od;
		run monitor();
		i = 0
	}
}
