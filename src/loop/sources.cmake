# SPDX-License-Identifier: MIT
# The event loop: ready queue, timers, epoll, inbox, coroutines and stacks.
set(_spool_loop_sources
  src/loop/bridge.c
  src/loop/coro.c
  src/loop/coro_switch.c
  src/loop/coro_ucontext.c
  src/loop/debug.c
  src/loop/deadlock.c
  src/loop/home.c
  src/loop/inbox.c
  src/loop/io.c
  src/loop/loop.c
  src/loop/sleep.c
  src/loop/stack.c
  src/loop/task.c
  src/loop/timer.c)
list(APPEND SPOOL_SOURCES ${_spool_loop_sources})
# SPOOL_CORO_UCONTEXT (top-level option): the portable switch instead of the
# hand-written one. The context's layout depends on it, so every loop file
# is compiled with the same choice.
if(SPOOL_CORO_UCONTEXT)
  set_source_files_properties(${_spool_loop_sources}
    PROPERTIES COMPILE_DEFINITIONS SPOOL_CORO_UCONTEXT=1)
endif()
