list(APPEND SPOOL_SOURCES
  src/combinators/as_completed.c
  src/combinators/common.c
  src/combinators/dedup.c
  src/combinators/gather.c
  src/combinators/group.c
  src/combinators/map.c
  src/combinators/proxy.c
  src/combinators/settle.c
  src/combinators/shield.c
  src/combinators/then.c
  src/combinators/wait.c
  src/combinators/wait_for.c)
