# SPDX-License-Identifier: MIT
# The pool's work sources are listed in park.c's proof comment, in
# spool__pool_may_have_work() and in the SPIN model; work_sources fails
# when they disagree, and its self-test shows that it catches each kind of
# disagreement. (The SPIN searches themselves run in `./run model`.)
add_test(NAME work_sources
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/work_sources.sh ${PROJECT_SOURCE_DIR})
add_test(NAME work_sources_self_test
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/work_sources.sh --self-test
          ${PROJECT_SOURCE_DIR})
set_tests_properties(work_sources work_sources_self_test PROPERTIES
  LABELS "unit;model" TIMEOUT 60)
