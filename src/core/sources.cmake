list(APPEND SPOOL_SOURCES
  src/core/alloc.c
  src/core/callback.c
  src/core/detail.c
  src/core/driven.c
  src/core/debug.c
  src/core/error.c
  src/core/executor.c
  src/core/future.c
  src/core/misuse.c
  src/core/nest.c
  src/core/slab.c
  src/core/version.c
  src/core/wait.c)
