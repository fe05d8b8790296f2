list(APPEND SPOOL_SOURCES
  src/trace/api.c
  src/trace/buffer.c
  src/trace/clock.c
  src/trace/session.c
  src/trace/writer.c)
