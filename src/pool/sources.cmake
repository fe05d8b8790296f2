# SPDX-License-Identifier: MIT
# The work-stealing pool. deque.h and inject.h are header-only (static
# inline) so that the spawn path inlines them and test_deque.c tests the
# same code.
list(APPEND SPOOL_SOURCES
  src/pool/fence.c
  src/pool/for.c
  src/pool/job.c
  src/pool/join.c
  src/pool/park.c
  src/pool/pool.c
  src/pool/scope.c
  src/core/slab.c
  src/pool/task.c
  src/pool/worker.c)
