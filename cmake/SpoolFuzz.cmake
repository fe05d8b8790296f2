# SPDX-License-Identifier: MIT
# SPOOL_FUZZ: build the libFuzzer target in test/fuzz (./run fuzz). It needs
# clang (libFuzzer ships with it) and AddressSanitizer+UBSan, so it asks for
# SPOOL_SANITIZE=address; the whole build gets libFuzzer's coverage
# instrumentation (-fsanitize=fuzzer-no-link) so that the fuzzer is guided by
# the library's branches, and only the target links libFuzzer's main.
option(SPOOL_FUZZ "Build the libFuzzer target test/fuzz/fuzz_futures (clang, with SPOOL_SANITIZE=address)" OFF)
if(NOT SPOOL_FUZZ)
  return()
endif()
if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "SPOOL_FUZZ needs clang (libFuzzer); configure with "
    "-DCMAKE_C_COMPILER=clang (compiler here: ${CMAKE_C_COMPILER_ID})")
endif()
if(NOT SPOOL_SANITIZE STREQUAL "address")
  message(FATAL_ERROR "SPOOL_FUZZ needs -DSPOOL_SANITIZE=address")
endif()
add_compile_options(-fsanitize=fuzzer-no-link)
