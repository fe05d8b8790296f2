/* SPDX-License-Identifier: MIT */
/*
 * The mpi farm: the farm's workers (farm.h) as MPI ranks, spawned by the
 * program itself. Built only when CMake found MPI (CMP_HAVE_MPI).
 *
 * The program is not started by mpiexec: cmp_mpi_farm_init() (called
 * before the first measured run, and by start()) makes it an MPI
 * singleton (MPI_Init_thread, MPI_THREAD_MULTIPLE; Open MPI starts its
 * daemon then) and registers MPI_Finalize for the program's exit. Each
 * start() then spawns `workers` ranks of the program's own executable
 * (/proc/self/exe) with MPI_Comm_spawn, with the one argument
 * CMP_MPI_WORKER_ARG, which makes main() call cmp_mpi_farm_worker_main()
 * instead of reading a command line: the rank runs cmp_farm_serve() over
 * the intercommunicator to its parent. Spawning is inside the measured
 * run, as forking is for procs: the launcher's work (the daemon starting
 * the ranks, their own MPI_Init, connecting them to the program) is part
 * of what this backend costs.
 *
 * Messages, on the intercommunicator, between the program and rank w:
 *
 *   TAG_TASK    program -> w   a task, or the end message
 *                              (cmp_farm_encode_end), as MPI_BYTE
 *   TAG_RESULT  w -> program   a result, as MPI_BYTE
 *   TAG_STOP    program -> w   one int: request_stop() was called
 *   TAG_BYE     w -> program   struct bye: the rank left its loop
 *
 * Why a message for the stop request, not a one-sided flag: the rank's
 * stop check (a job polls it between two units of work) becomes one
 * MPI_Iprobe, local and cheap, and needs nothing beyond point-to-point
 * messages, which every MPI progresses the same way. A window exposed by
 * the program would need an intracommunicator (MPI_Intercomm_merge), a
 * passive-target epoch on every check, and, in Open MPI's osc components,
 * progress on the target's side to become visible; the message is simpler
 * and no slower to arrive. request_stop() posts it once per rank with
 * MPI_Isend (never blocks); finish() completes those requests.
 *
 * Why nothing is left unreceived at the end (MPI_Comm_disconnect waits for
 * every pending message on the communicator): a rank receives its task
 * messages with MPI_ANY_TAG, so a stop message it has not probed yet is
 * received before the end message sent after it (MPI's non-overtaking
 * rule between one sender and one receiver for receives that match both);
 * the program receives every rank's bye before disconnecting, and discards
 * results still on their way when a run failed.
 *
 * Waiting: both sides wait by polling MPI_Iprobe, spinning briefly and
 * then sleeping with a pause that doubles up to MAX_PAUSE_NS, rather than
 * in MPI_Recv, which busy-polls in Open MPI: on a machine with as many
 * cores as ranks, a program spinning for results would take a core from a
 * rank. The pause bounds the latency a wait adds after a quiet spell;
 * each rank has its next task queued (CMP_FARM_WINDOW), so it costs no
 * rank any work time.
 *
 * CPU time: the ranks are children of Open MPI's daemon, not of the
 * program, so RUSAGE_CHILDREN never sees them; each rank reports its own
 * CPU time in its bye, which finish() adds to the program's
 * (cmp_cpu_add_ns), so that the mpi rows' cpu ms count the ranks' work as
 * the procs rows count the worker processes'.
 */
#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <spool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "compare.h"
#include "farm.h"

enum { TAG_TASK = 1, TAG_RESULT, TAG_STOP, TAG_BYE };

/* Ranks one farm may have (--threads allows as many). */
#define MAX_WORKERS 256
/* How long finish() waits for every rank's bye. */
#define FINISH_LIMIT_NS (10 * SPOOL_NS_PER_S)
/* How long start() waits for MPI_Comm_spawn (0.3 s is usual); the
 * environment variable CMP_MPI_SPAWN_LIMIT_MS overrides it (the tests
 * make a spawn overstay its limit with it). */
#define SPAWN_LIMIT_NS (20 * SPOOL_NS_PER_S)
/* Waiting: spin this long after the last message, then sleep. */
#define SPIN_NS (50 * 1000)
#define MIN_PAUSE_NS (10 * 1000)
#define MAX_PAUSE_NS (500 * 1000)

/* What a rank says when it leaves its loop. */
struct bye {
	int64_t rc;     /* cmp_farm_serve()'s */
	int64_t cpu_ns; /* the rank's CPU time so far */
};

/* ---- MPI, once per process ------------------------------------------------
 */

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_state; /* 0 not tried, 1 ready, -1 failed; under init_lock */
static char init_why[160];
/* Set when a rank did not end, or a spawn did not return: MPI_Finalize
 * would wait for it forever, so the program exits without it (Open MPI's
 * daemon ends the ranks when the program is gone). */
static atomic_bool mpi_abandoned;
/* Set when a spawn did not return: MPI is stuck inside it, so no later
 * start() tries MPI again. */
static atomic_bool spawn_stuck;

static void finalize_at_exit(void)
{
	int done = 0;
	if (atomic_load(&mpi_abandoned))
		return;
	MPI_Finalized(&done);
	if (!done)
		MPI_Finalize();
}

/* The environment MPI_Init reads, set before it (in the program and in
 * each rank), while no other thread reads the environment (the program's
 * threads do not); a value the user set is kept. Open MPI refuses to
 * start as root unless told it may: the program and its ranks are the
 * user's own processes here, as under `mpiexec --allow-run-as-root`. */
static void mpi_environment(void)
{
	if (geteuid() != 0)
		return;
	setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
	setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
}

/* MPI's message for code, cut to fit len (> 0) bytes. */
static void mpi_error(int code, char *buf, size_t len)
{
	char s[MPI_MAX_ERROR_STRING];
	int n = 0;
	if (MPI_Error_string(code, s, &n) != MPI_SUCCESS)
		snprintf(s, sizeof(s), "MPI error %d", code);
	size_t k = strlen(s);
	if (k >= len)
		k = len - 1;
	memcpy(buf, s, k);
	buf[k] = 0;
}

int cmp_mpi_farm_init(char *why, size_t why_len)
{
	pthread_mutex_lock(&init_lock);
	if (init_state == 0) {
		int inited = 0, provided = MPI_THREAD_SINGLE;
		MPI_Initialized(&inited);
		if (inited) {
			MPI_Query_thread(&provided);
		} else {
			mpi_environment();
			int rc = MPI_Init_thread(
				NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
			if (rc != MPI_SUCCESS) {
				char s[128];
				mpi_error(rc, s, sizeof(s));
				snprintf(init_why, sizeof(init_why),
					 "MPI_Init_thread: %s", s);
				init_state = -1;
			} else {
				atexit(finalize_at_exit);
			}
		}
		if (init_state == 0 && provided < MPI_THREAD_MULTIPLE) {
			snprintf(init_why, sizeof(init_why),
				 "this MPI gives thread level %d, not "
				 "MPI_THREAD_MULTIPLE",
				 provided);
			init_state = -1;
		}
		if (init_state == 0) {
			MPI_Comm_set_errhandler(MPI_COMM_SELF,
						MPI_ERRORS_RETURN);
			MPI_Comm_set_errhandler(MPI_COMM_WORLD,
						MPI_ERRORS_RETURN);
			init_state = 1;
		}
	}
	int ok = init_state == 1;
	if (!ok)
		snprintf(why, why_len, "%s", init_why);
	pthread_mutex_unlock(&init_lock);
	return ok ? 0 : -1;
}

/* Waits for a message matching (source, tag) on comm and describes it in
 * *st; polls (see the top of the file). deadline 0: no limit. Returns 0,
 * SPOOL_ETIMEDOUT or SPOOL_ESYS. */
static int wait_message(MPI_Comm comm, int source, int tag, int64_t deadline,
			MPI_Status *st)
{
	int64_t spin_until = cmp_now_ns() + SPIN_NS, pause = 0;
	for (;;) {
		int flag = 0;
		if (MPI_Iprobe(source, tag, comm, &flag, st) != MPI_SUCCESS)
			return SPOOL_ESYS;
		if (flag)
			return 0;
		int64_t now = cmp_now_ns();
		if (deadline && now > deadline)
			return SPOOL_ETIMEDOUT;
		if (now < spin_until)
			continue;
		pause = pause ? pause * 2 : MIN_PAUSE_NS;
		if (pause > MAX_PAUSE_NS)
			pause = MAX_PAUSE_NS;
		struct timespec ts = {0, (long)pause};
		nanosleep(&ts, NULL);
	}
}

/* ---- a rank's end ---------------------------------------------------------
 */

struct rank_end {
	MPI_Comm parent;
	bool stopped; /* the stop message arrived */
	/* The test seam CMP_MPI_RANK_FAIL_AFTER=n (see
	 * cmp_mpi_farm_worker_main): rank 0 takes n task messages, then
	 * reads the next as malformed. -1: off. */
	long fail_after;
};

static void take_stop(struct rank_end *e)
{
	int unused;
	MPI_Recv(&unused, 1, MPI_INT, 0, TAG_STOP, e->parent,
		 MPI_STATUS_IGNORE);
	e->stopped = true;
}

static int r_recv(void *ctx, void *buf, size_t cap, size_t *len)
{
	struct rank_end *e = ctx;
	for (;;) {
		MPI_Status st;
		int count = 0;
		if (wait_message(e->parent, 0, MPI_ANY_TAG, 0, &st))
			return SPOOL_ESYS;
		if (st.MPI_TAG == TAG_STOP) {
			take_stop(e);
			continue;
		}
		if (st.MPI_TAG != TAG_TASK ||
		    MPI_Get_count(&st, MPI_BYTE, &count) != MPI_SUCCESS ||
		    count < 0 || (size_t)count > cap || e->fail_after == 0)
			return SPOOL_EINVAL;
		if (e->fail_after > 0)
			e->fail_after--;
		if (MPI_Recv(buf, count, MPI_BYTE, 0, TAG_TASK, e->parent,
			     MPI_STATUS_IGNORE) != MPI_SUCCESS)
			return SPOOL_ESYS;
		*len = (size_t)count;
		return 0;
	}
}

static int r_send(void *ctx, const void *msg, size_t len)
{
	struct rank_end *e = ctx;
	return MPI_Send(msg, (int)len, MPI_BYTE, 0, TAG_RESULT, e->parent) ==
			       MPI_SUCCESS
		       ? 0
		       : SPOOL_ESYS;
}

static bool r_stop_requested(void *ctx)
{
	struct rank_end *e = ctx;
	int flag = 0;
	if (!e->stopped &&
	    MPI_Iprobe(0, TAG_STOP, e->parent, &flag, MPI_STATUS_IGNORE) ==
		    MPI_SUCCESS &&
	    flag)
		take_stop(e);
	return e->stopped;
}

/* After a failed loop: receives and drops messages until the end message,
 * so that none is left pending when the rank disconnects. */
static void drain_until_end(struct rank_end *e)
{
	uint8_t end[CMP_FARM_HEADER], buf[CMP_FARM_MAX_MSG];
	cmp_farm_encode_end(end);
	for (;;) {
		MPI_Status st;
		int count = 0;
		if (wait_message(e->parent, 0, MPI_ANY_TAG, 0, &st) ||
		    MPI_Get_count(&st, MPI_BYTE, &count) != MPI_SUCCESS ||
		    count < 0 || count > CMP_FARM_MAX_MSG)
			break;
		MPI_Recv(buf, count, MPI_BYTE, 0, st.MPI_TAG, e->parent,
			 MPI_STATUS_IGNORE);
		if (st.MPI_TAG == TAG_TASK && count == CMP_FARM_HEADER &&
		    memcmp(buf, end, CMP_FARM_HEADER) == 0)
			break;
	}
}

static int64_t own_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

int cmp_mpi_farm_worker_main(void)
{
	int provided;
	mpi_environment();
	/* One thread calls MPI here: the rank's own. */
	if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) !=
	    MPI_SUCCESS)
		return 1;
	MPI_Comm parent;
	MPI_Comm_get_parent(&parent);
	if (parent == MPI_COMM_NULL) {
		fprintf(stderr,
			"spool-compare: %s is for the ranks that the mpi "
			"backend spawns, not for a command line\n",
			CMP_MPI_WORKER_ARG);
		MPI_Finalize();
		return 2;
	}
	MPI_Comm_set_errhandler(parent, MPI_ERRORS_RETURN);
	struct rank_end e = {.parent = parent, .fail_after = -1};
	/* A test seam (compare_mpi.sh, case rankfail): the ranks inherit the
	 * program's environment, and rank 0 of each spawn then fails its
	 * loop after that many tasks, as it would on a malformed message, so
	 * that the path of a rank that ends before its result is tested:
	 * its bye, the program's error naming it, the drain to the end
	 * message, and the next backends running on. */
	const char *fail_env = getenv("CMP_MPI_RANK_FAIL_AFTER");
	int me = -1;
	MPI_Comm_rank(MPI_COMM_WORLD, &me);
	if (fail_env && me == 0)
		e.fail_after = atol(fail_env);
	struct cmp_farm_endpoint ep = {.recv = r_recv,
				       .send = r_send,
				       .stop_requested = r_stop_requested,
				       .ctx = &e};
	int rc = cmp_farm_serve(&ep);
	struct bye bye = {.rc = rc, .cpu_ns = own_cpu_ns()};
	MPI_Send(&bye, (int)sizeof(bye), MPI_BYTE, 0, TAG_BYE, parent);
	/* A failed loop has said so at once (the program's recv fails the
	 * run with it) and now waits for the end message like the others. */
	if (rc)
		drain_until_end(&e);
	MPI_Comm_disconnect(&parent);
	MPI_Finalize();
	return rc ? 1 : 0;
}

/* ---- the program's end ------------------------------------------------------
 */

struct mpifarm {
	MPI_Comm inter;
	int n;                   /* ranks */
	bool *bye;               /* rank w's bye received */
	MPI_Request *slot_req;   /* CMP_FARM_WINDOW per rank: task sends */
	uint8_t *slots;          /* their buffers, CMP_FARM_MAX_MSG each */
	int *next_slot;          /* per rank, the slot its next task takes */
	MPI_Request *stop_req;   /* per rank, once request_stop was called */
	atomic_bool stop_posted; /* request_stop's once */
	int stop_word;
	int64_t cpu_ns; /* the ranks' CPU time, from their byes */
	char why[160];
};

static void mpifarm_free(struct mpifarm *p)
{
	free(p->bye);
	free(p->slot_req);
	free(p->slots);
	free(p->next_slot);
	free(p->stop_req);
	free(p);
}

/* A spawn, on a thread of its own so that start() can stop waiting for
 * it: MPI_Comm_spawn has no timeout, and a launcher that never answers
 * would otherwise hold the program until --time-limit. Open MPI 4.1 over
 * an external PMIx 4 (Debian 12's pair) does that now and then: a new
 * rank waits forever in PMIx_Init while the program waits in
 * MPI_Comm_spawn (PMIx_Lookup). On a busy two-core machine we saw it
 * several times in a few hundred spawns, then not once in the next few
 * hundred, in a plain MPI program that spawns in a loop as well as here:
 * it is the launcher's, and nothing the program does around a spawn
 * prevents it.
 *
 * Shared between start() and the thread under the lock; whichever of the
 * two is last (the thread, when start() gave up) frees it. */
struct spawn {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	bool done, abandoned;
	char exe[PATH_MAX];
	int n, rc;
	int *codes; /* per rank */
	MPI_Comm inter;
};

static void spawn_free(struct spawn *sp)
{
	pthread_cond_destroy(&sp->cond);
	pthread_mutex_destroy(&sp->lock);
	free(sp->codes);
	free(sp);
}

static struct spawn *spawn_new(const char *exe, int n)
{
	struct spawn *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->codes = calloc((size_t)n, sizeof(*sp->codes));
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sp->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&sp->lock, NULL);
	if (!sp->codes) {
		spawn_free(sp);
		return NULL;
	}
	snprintf(sp->exe, sizeof(sp->exe), "%s", exe);
	sp->n = n;
	sp->inter = MPI_COMM_NULL;
	return sp;
}

static void *spawn_thread(void *arg)
{
	struct spawn *sp = arg;
	/* More ranks than cores is the point of a comparison on a small
	 * machine, as it is for procs. */
	MPI_Info info;
	MPI_Info_create(&info);
	MPI_Info_set(info, "map_by", ":OVERSUBSCRIBE");
	char rank_arg[] = CMP_MPI_WORKER_ARG;
	char *argv[] = {rank_arg, NULL};
	MPI_Comm inter = MPI_COMM_NULL;
	int rc = MPI_Comm_spawn(sp->exe, argv, sp->n, info, 0, MPI_COMM_SELF,
				&inter, sp->codes);
	MPI_Info_free(&info);
	pthread_mutex_lock(&sp->lock);
	sp->rc = rc;
	sp->inter = inter;
	sp->done = true;
	bool orphan = sp->abandoned;
	pthread_cond_signal(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
	if (orphan) /* start() gave up: its ranks stay with MPI */
		spawn_free(sp);
	return NULL;
}

/* Runs the spawn and waits for it at most limit_ns. Returns 0 (sp->rc,
 * ->codes and ->inter filled), SPOOL_ETIMEDOUT (sp then belongs to the
 * thread, and MPI is given up on for the rest of the program), or a
 * spool error if no thread could start. */
static int spawn_bounded(struct spawn *sp, int64_t limit_ns)
{
	pthread_t t;
	if (pthread_create(&t, NULL, spawn_thread, sp) != 0) {
		spawn_free(sp);
		return SPOOL_ENOMEM;
	}
	pthread_detach(t);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	int64_t ns = until.tv_nsec + limit_ns % SPOOL_NS_PER_S;
	until.tv_sec += (time_t)(limit_ns / SPOOL_NS_PER_S +
				 ns / SPOOL_NS_PER_S);
	until.tv_nsec = (long)(ns % SPOOL_NS_PER_S);
	pthread_mutex_lock(&sp->lock);
	while (!sp->done)
		if (pthread_cond_timedwait(&sp->cond, &sp->lock, &until) ==
		    ETIMEDOUT)
			break;
	bool done = sp->done;
	if (!done)
		sp->abandoned = true;
	pthread_mutex_unlock(&sp->lock);
	if (done)
		return 0;
	atomic_store(&spawn_stuck, true);
	atomic_store(&mpi_abandoned, true);
	return SPOOL_ETIMEDOUT;
}

static int mpi_start(void **farm, int workers, char *why, size_t why_len)
{
	*farm = NULL;
	if (workers < 1 || workers > MAX_WORKERS) {
		snprintf(why, why_len, "%d ranks: not in 1..%d", workers,
			 MAX_WORKERS);
		return SPOOL_EINVAL;
	}
	if (cmp_mpi_farm_init(why, why_len))
		return SPOOL_ESYS;
	if (atomic_load(&spawn_stuck)) {
		snprintf(why, why_len,
			 "an earlier MPI_Comm_spawn never returned: the mpi "
			 "backend is off for the rest of this program");
		return SPOOL_ESYS;
	}
	char exe[PATH_MAX];
	ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (k <= 0) {
		snprintf(why, why_len, "readlink /proc/self/exe: %s",
			 strerror(errno));
		return SPOOL_ESYS;
	}
	exe[k] = 0;
	struct mpifarm *p = calloc(1, sizeof(*p));
	size_t w = (size_t)workers;
	if (p) {
		p->bye = calloc(w, sizeof(*p->bye));
		p->slot_req = malloc(w * CMP_FARM_WINDOW *
				     sizeof(*p->slot_req));
		p->slots = malloc(w * CMP_FARM_WINDOW * CMP_FARM_MAX_MSG);
		p->next_slot = calloc(w, sizeof(*p->next_slot));
		p->stop_req = malloc(w * sizeof(*p->stop_req));
	}
	if (!p || !p->bye || !p->slot_req || !p->slots || !p->next_slot ||
	    !p->stop_req) {
		if (p)
			mpifarm_free(p);
		snprintf(why, why_len, "no memory for %d ranks", workers);
		return SPOOL_ENOMEM;
	}
	for (size_t i = 0; i < w * CMP_FARM_WINDOW; i++)
		p->slot_req[i] = MPI_REQUEST_NULL;
	for (size_t i = 0; i < w; i++)
		p->stop_req[i] = MPI_REQUEST_NULL;
	atomic_init(&p->stop_posted, false);
	p->stop_word = 1;

	int64_t limit = SPAWN_LIMIT_NS;
	const char *env = getenv("CMP_MPI_SPAWN_LIMIT_MS");
	if (env && atoll(env) > 0)
		limit = atoll(env) * SPOOL_NS_PER_MS;
	struct spawn *sp = spawn_new(exe, workers);
	int rc = sp ? spawn_bounded(sp, limit) : SPOOL_ENOMEM;
	if (rc == SPOOL_ETIMEDOUT) {
		snprintf(why, why_len,
			 "MPI_Comm_spawn did not return within %.3g s: MPI "
			 "is given up on for the rest of this program",
			 (double)limit / 1e9);
		mpifarm_free(p);
		return SPOOL_ETIMEDOUT;
	}
	if (rc) {
		snprintf(why, why_len, "no memory for %d ranks", workers);
		mpifarm_free(p);
		return rc;
	}
	int bad = -1;
	for (int i = 0; i < workers && bad < 0; i++)
		if (sp->codes[i] != MPI_SUCCESS)
			bad = i;
	if (sp->rc != MPI_SUCCESS || bad >= 0) {
		char s[128];
		mpi_error(bad >= 0 ? sp->codes[bad] : sp->rc, s, sizeof(s));
		if (bad >= 0)
			snprintf(why, why_len,
				 "rank %d of %d (%s) did not start: %s", bad,
				 workers, exe, s);
		else
			snprintf(why, why_len,
				 "MPI_Comm_spawn of %d ranks of %s: %s",
				 workers, exe, s);
		/* Ranks that did start are left to MPI: a communicator
		 * half made cannot be disconnected cleanly. */
		if (sp->rc == MPI_SUCCESS)
			atomic_store(&mpi_abandoned, true);
		spawn_free(sp);
		mpifarm_free(p);
		return SPOOL_ESYS;
	}
	p->inter = sp->inter;
	spawn_free(sp);
	MPI_Comm_set_errhandler(p->inter, MPI_ERRORS_RETURN);
	p->n = workers;
	*farm = p;
	return 0;
}

/* Copies the message into the rank's next slot and posts it: a rank's
 * window of tasks is then on its way while the program collects other
 * results, whatever the message's size (MPI_Send of a message above the
 * eager limit would wait for the rank to finish its current task). The
 * slot's previous send was two tasks ago for this rank, whose result came
 * back before this task is sent (cmp_farm_run sends a rank's next task
 * when its result arrives), so that send has long completed and the wait
 * below returns at once. */
static int mpi_send(void *farm, int w, const void *msg, size_t len)
{
	struct mpifarm *p = farm;
	if (w < 0 || w >= p->n || len > CMP_FARM_MAX_MSG)
		return SPOOL_EINVAL;
	int s = w * CMP_FARM_WINDOW + p->next_slot[w];
	p->next_slot[w] = (p->next_slot[w] + 1) % CMP_FARM_WINDOW;
	uint8_t *buf = p->slots + (size_t)s * CMP_FARM_MAX_MSG;
	int rc = MPI_Wait(&p->slot_req[s], MPI_STATUS_IGNORE);
	if (rc == MPI_SUCCESS) {
		memcpy(buf, msg, len);
		rc = MPI_Isend(buf, (int)len, MPI_BYTE, w, TAG_TASK, p->inter,
			       &p->slot_req[s]);
	}
	if (rc != MPI_SUCCESS) {
		char e[128];
		mpi_error(rc, e, sizeof(e));
		snprintf(p->why, sizeof(p->why), "rank %d: send: %s", w, e);
		return SPOOL_ESYS;
	}
	return 0;
}

/* Receives rank w's bye (its envelope in st). */
static int take_bye(struct mpifarm *p, const MPI_Status *st, struct bye *bye)
{
	int w = st->MPI_SOURCE;
	*bye = (struct bye){.rc = SPOOL_ESYS};
	if (MPI_Recv(bye, (int)sizeof(*bye), MPI_BYTE, w, TAG_BYE, p->inter,
		     MPI_STATUS_IGNORE) != MPI_SUCCESS)
		return SPOOL_ESYS;
	if (w >= 0 && w < p->n)
		p->bye[w] = true;
	p->cpu_ns += bye->cpu_ns;
	return 0;
}

static int mpi_recv(void *farm, int *w, void *buf, size_t cap, size_t *len)
{
	struct mpifarm *p = farm;
	MPI_Status st;
	int count = 0;
	if (wait_message(p->inter, MPI_ANY_SOURCE, MPI_ANY_TAG, 0, &st)) {
		snprintf(p->why, sizeof(p->why), "MPI_Iprobe failed");
		return SPOOL_ESYS;
	}
	if (st.MPI_TAG == TAG_BYE) {
		struct bye bye;
		take_bye(p, &st, &bye);
		snprintf(p->why, sizeof(p->why),
			 "rank %d ended before its result: %s", st.MPI_SOURCE,
			 spool_err_name((int)bye.rc));
		return SPOOL_ESYS;
	}
	if (st.MPI_TAG != TAG_RESULT ||
	    MPI_Get_count(&st, MPI_BYTE, &count) != MPI_SUCCESS || count < 0 ||
	    (size_t)count > cap) {
		snprintf(p->why, sizeof(p->why),
			 "rank %d sent an unexpected message (tag %d)",
			 st.MPI_SOURCE, st.MPI_TAG);
		return SPOOL_EINVAL;
	}
	if (MPI_Recv(buf, count, MPI_BYTE, st.MPI_SOURCE, TAG_RESULT, p->inter,
		     MPI_STATUS_IGNORE) != MPI_SUCCESS) {
		snprintf(p->why, sizeof(p->why), "rank %d: receive failed",
			 st.MPI_SOURCE);
		return SPOOL_ESYS;
	}
	*w = st.MPI_SOURCE;
	*len = (size_t)count;
	return 0;
}

/* Posts the stop message to every rank, once: MPI_Isend of one int is
 * local (never waits for the rank). Any thread, as MPI_THREAD_MULTIPLE
 * allows; the once is the exchange. */
static void mpi_request_stop(void *farm)
{
	struct mpifarm *p = farm;
	if (atomic_exchange(&p->stop_posted, true))
		return;
	for (int w = 0; w < p->n; w++)
		MPI_Isend(&p->stop_word, 1, MPI_INT, w, TAG_STOP, p->inter,
			  &p->stop_req[w]);
}

static int mpi_finish(void *farm, char *why, size_t why_len)
{
	struct mpifarm *p = farm;
	if (!p)
		return 0;
	int first = 0;
	uint8_t end[CMP_FARM_HEADER];
	cmp_farm_encode_end(end);
	for (int w = 0; w < p->n; w++)
		if (MPI_Send(end, CMP_FARM_HEADER, MPI_BYTE, w, TAG_TASK,
			     p->inter) != MPI_SUCCESS &&
		    !first) {
			first = SPOOL_ESYS;
			snprintf(why, why_len,
				 "rank %d: sending the end failed", w);
		}
	/* Every rank's bye; results still on their way after a failed run
	 * are dropped. */
	int64_t deadline = cmp_now_ns() + FINISH_LIMIT_NS;
	uint8_t scratch[CMP_FARM_MAX_MSG];
	int left = 0;
	for (int w = 0; w < p->n; w++)
		left += !p->bye[w];
	while (left > 0) {
		MPI_Status st;
		int rc = wait_message(p->inter, MPI_ANY_SOURCE, MPI_ANY_TAG,
				      deadline, &st);
		if (rc) {
			int w = 0;
			while (w < p->n && p->bye[w])
				w++;
			snprintf(why, why_len,
				 "rank %d did not end within %d s", w,
				 (int)(FINISH_LIMIT_NS / SPOOL_NS_PER_S));
			/* Its sends and the communicator stay with MPI,
			 * which the program's exit leaves alone. */
			atomic_store(&mpi_abandoned, true);
			mpifarm_free(p);
			return SPOOL_ETIMEDOUT;
		}
		if (st.MPI_TAG == TAG_BYE) {
			struct bye bye;
			bool had = p->bye[st.MPI_SOURCE];
			take_bye(p, &st, &bye);
			left -= !had;
			if (bye.rc && !first) {
				first = SPOOL_ESYS;
				snprintf(why, why_len, "rank %d ended with %s",
					 st.MPI_SOURCE,
					 spool_err_name((int)bye.rc));
			}
			continue;
		}
		/* A result: ranks send nothing longer than a task. */
		int count = 0;
		MPI_Get_count(&st, MPI_BYTE, &count);
		if (count < 0 || count > CMP_FARM_MAX_MSG)
			count = CMP_FARM_MAX_MSG;
		MPI_Recv(scratch, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG,
			 p->inter, MPI_STATUS_IGNORE);
	}
	MPI_Waitall(p->n * CMP_FARM_WINDOW, p->slot_req, MPI_STATUSES_IGNORE);
	MPI_Waitall(p->n, p->stop_req, MPI_STATUSES_IGNORE);
	MPI_Comm_disconnect(&p->inter);
	cmp_cpu_add_ns(p->cpu_ns);
	mpifarm_free(p);
	return first;
}

static const char *mpi_why(void *farm)
{
	return ((struct mpifarm *)farm)->why;
}

const struct cmp_farm_ops cmp_mpi_farm = {
	.name = "mpi",
	.start = mpi_start,
	.send = mpi_send,
	.recv = mpi_recv,
	.request_stop = mpi_request_stop,
	.finish = mpi_finish,
	.why = mpi_why,
};
