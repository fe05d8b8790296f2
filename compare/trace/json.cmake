# SPDX-License-Identifier: MIT
# spool_json: the strict pull JSON reader (json.h), built once for the two
# places that read traces: the SVG renderer here and the trace test suite.
# Either may include this file first; the target is defined once.
if(NOT TARGET spool_json)
  add_library(spool_json STATIC ${CMAKE_CURRENT_LIST_DIR}/json.c)
  target_include_directories(spool_json PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_compile_options(spool_json PRIVATE ${SPOOL_WARNINGS})
endif()
