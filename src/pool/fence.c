/* SPDX-License-Identifier: MIT */
/*
 * The heavy half of the pool's asymmetric fence (fence.h): membarrier where
 * the kernel offers it, the ordinary full fence where it does not.
 */
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fence.h"
#include "core/misuse.h"

_Atomic bool spool__membarrier_ok;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	bool ok = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
		  syscall(SYS_membarrier,
			  MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
	/* Relaxed: pthread_once and the creation of the workers order it
	 * before every read (fence.h). */
	atomic_store_explicit(&spool__membarrier_ok, ok, memory_order_relaxed);
}

void spool__fence_init(void)
{
	pthread_once(&once, init_once);
}

void spool__fence_heavy(void)
{
	if (!atomic_load_explicit(&spool__membarrier_ok,
				  memory_order_relaxed)) {
		spool__fence_seq_cst();
		return;
	}
	/* Once registered, the call cannot fail (membarrier(2) lists no
	 * error for it). Were it to, the light sides have no fence to fall
	 * back on: stop rather than risk a lost wake-up. */
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		spool__bug_errno("pool heavy fence", "membarrier");
}
