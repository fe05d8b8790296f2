/* SPDX-License-Identifier: MIT */
/*
 * Model (a): the Chase-Lev deque's owner against its thieves
 * (src/pool/deque.h), checking that every pushed item is taken exactly
 * once, on the x86-TSO memory of tso.pml.
 *
 *   owner()  mirrors spool__deque_push() and spool__deque_pop(): the
 *            owner pushes items 1..NITEMS with pops mixed in anywhere,
 *            then pops until the deque answers empty;
 *   thief()  mirrors spool__deque_steal(): NSTEALS attempts each
 *            (worker.c's steal_round tries once per victim and moves on
 *            after EMPTY or LOST; a later round tries again).
 *
 * Each step below is one C statement that touches shared memory, in the
 * C code's order; the comments quote the C. Not modelled: buffer growth
 * (the buffer holds NITEMS, so spool__deque_grow never runs; its argument
 * is separate, deque.h) and the load of q->buf (one buffer, never
 * replaced).
 *
 * Options (spin -D...):
 *   NITEMS=n     items pushed (default 2)
 *   NTHIEVES=n   thieves, 1 or 2 (default 2)
 *   NSTEALS=n    steal attempts per thief (default 2)
 *   NO_POP_FENCE pop without its seq_cst fence: the owner's store of
 *                bottom waits in its buffer while it reads top, a thief
 *                reads the old bottom, and both take the same item. The
 *                check must find it (./run model runs this variant and
 *                fails if SPIN passes it).
 */
#ifndef NITEMS
#define NITEMS 2
#endif
#ifndef NTHIEVES
#define NTHIEVES 2
#endif
#ifndef NSTEALS
#define NSTEALS 2
#endif

#define OWNER 0
#define NT (1 + NTHIEVES) /* thieves never store: their buffers stay empty */

#define TOP 0
#define BOTTOM 1
#define SLOT(i) (2 + (i)) /* absolute index: no wrap below NITEMS */
#define NVARS (2 + NITEMS)
#if NITEMS > 4
#error "name more slots in init"
#endif

mtype = { top, bottom, slot0, slot1, slot2, slot3 };

#include "tso.pml"

byte taken[NITEMS + 1]; /* how many times each item was taken */
byte finished;

/* A taker got item x (not 0, which is NULL). */
inline took(tid, x)
{
	d_step {
		assert(x >= 1 && x <= NITEMS);
		printf("t%d: takes item %d\n", tid, x);
		assert(taken[x] == 0); /* taken twice */
		taken[x]++
	}
}

/* spool__deque_push(q, x): owner only. */
inline push(x)
{
	printf("t0: push(item %d)\n", x);
	/* int64_t b = load(&q->bottom, relaxed); */
	load(OWNER, BOTTOM, b);
	/* int64_t t = load(&q->top, acquire); */
	load(OWNER, TOP, t);
	/* if (b - t > a->mask) grow: never, the buffer holds NITEMS */
	assert(b - t < NITEMS);
	/* store(&a->slot[b & a->mask], x, relaxed); */
	store(OWNER, SLOT(b), x);
	/* store(&q->bottom, b + 1, release); */
	store(OWNER, BOTTOM, b + 1)
}

/* x = spool__deque_pop(q): owner only; x == 0 is NULL. */
inline pop(x)
{
	printf("t0: pop()\n");
	/* int64_t b = load(&q->bottom, relaxed) - 1; */
	load(OWNER, BOTTOM, b);
	b = b - 1;
	/* store(&q->bottom, b, release); */
	store(OWNER, BOTTOM, b);
#ifndef NO_POP_FENCE
	/* spool__fence_seq_cst(); */
	fence(OWNER);
#endif
	/* int64_t t = load(&q->top, relaxed); */
	load(OWNER, TOP, t);
	if
	:: t > b ->
		/* Empty: store(&q->bottom, b + 1, release); return NULL */
		store(OWNER, BOTTOM, b + 1);
		x = 0
	:: else ->
		/* void *x = load(&a->slot[b & a->mask], relaxed); */
		load(OWNER, SLOT(b), x);
		if
		:: t == b ->
			/* The last item: CAS(&q->top, &t, t + 1, seq_cst) */
			d_step {
				drain(OWNER);
				if
				:: mem[TOP] == t -> mem[TOP] = t + 1;
					printf("t0: CAS top %d -> %d\n", t,
					       t + 1)
				:: else -> x = 0;
					printf("t0: CAS top %d fails\n", t)
				fi
			};
			/* store(&q->bottom, b + 1, release); */
			store(OWNER, BOTTOM, b + 1)
		:: else -> skip
		fi
	fi
}

proctype owner()
{
	short b, t, x;
	byte next = 1;
	/* Pushes and pops in any order... */
	do
	:: next <= NITEMS -> push(next); next++
	:: next > 1 ->
		pop(x);
		if
		:: x != 0 -> took(OWNER, x)
		:: else -> skip
		fi;
		b = 0; t = 0; x = 0
	:: next > NITEMS -> break
	od;
	/* ...then pop until the deque is empty: nothing may be left. */
	do
	:: pop(x);
		if
		:: x != 0 -> took(OWNER, x)
		:: else -> break
		fi;
		b = 0; t = 0; x = 0
	od;
	atomic { finished++; b = 0; t = 0; x = 0; next = 0 }
}

/* spool__deque_steal(q, &item), NSTEALS times. */
proctype thief(byte me)
{
	short b, t, x;
	byte tries = 0;
	do
	:: tries < NSTEALS ->
		printf("t%d: steal()\n", me);
		/* int64_t t = load(&q->top, acquire); */
		load(me, TOP, t);
		/* spool__fence_seq_cst(); */
		fence(me);
		/* int64_t b = load(&q->bottom, acquire); */
		load(me, BOTTOM, b);
		if
		:: t >= b -> skip /* SPOOL__STEAL_EMPTY */
		:: else ->
			/* void *x = load(&a->slot[t & a->mask], relaxed); */
			load(me, SLOT(t), x);
			/* CAS(&q->top, &t, t + 1, seq_cst) */
			d_step {
				drain(me);
				if
				:: mem[TOP] == t -> mem[TOP] = t + 1;
					printf("t%d: CAS top %d -> %d\n", me,
					       t, t + 1)
				:: else -> x = 0; /* SPOOL__STEAL_LOST */
					printf("t%d: CAS top %d fails\n", me,
					       t)
				fi
			};
			if
			:: x != 0 -> took(me, x) /* SPOOL__STEAL_ITEM */
			:: else -> skip
			fi
		fi;
		atomic { tries++; b = 0; t = 0; x = 0 }
	:: else -> break
	od;
	atomic { finished++; tries = 0 }
}

init
{
	byte i;
	atomic {
		aname[TOP] = top;
		aname[BOTTOM] = bottom;
		aname[SLOT(0)] = slot0;
#if NITEMS > 1
		aname[SLOT(1)] = slot1;
#endif
#if NITEMS > 2
		aname[SLOT(2)] = slot2;
#endif
#if NITEMS > 3
		aname[SLOT(3)] = slot3;
#endif
		run flusher(OWNER);
		run owner();
		i = 1;
		do
		:: i <= NTHIEVES -> run thief(i); i++
		:: else -> break
		od;
		i = 0
	};
	/* Everyone is done: every item was taken, and (took) only once. */
	finished == 1 + NTHIEVES;
	d_step {
		i = 1;
		do
		:: i <= NITEMS -> assert(taken[i] == 1); i++
		:: else -> break
		od;
		i = 0
	}
}
