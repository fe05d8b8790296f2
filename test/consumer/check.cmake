# SPDX-License-Identifier: MIT
# Script (cmake -P) behind the "install" ctests: install the built tree into
# a scratch prefix, then consume it the two ways a user would.
#
#   -DSTEP=install       cmake --install BIN --prefix PREFIX (fresh prefix)
#   -DSTEP=find_package  configure, build and run test/consumer as a CMake
#                        project with CMAKE_PREFIX_PATH=PREFIX
#   -DSTEP=pkg_config    build consumer.c with a plain compiler command line
#                        from `pkg-config --cflags --libs spool`, and run it
#   -DSTEP=symbols       the installed libspool.so.0: SONAME libspool.so.0,
#                        and every exported symbol is public spool_* API
#
# Other inputs: BIN (build tree), PREFIX, WORK (scratch dir), SRC
# (test/consumer), CONFIG, CC, GENERATOR, LIBDIR (relative to PREFIX),
# VERSION (expected), SHARED (ON/OFF), PKG_CONFIG, NM, READELF.

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
    OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 300)
  string(REPLACE ";" " " cmd "${ARGN}")
  message(STATUS "$ ${cmd}\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

# Runs the consumer and checks what it says.
function(run_consumer exe)
  run(${exe})
  if(NOT run_out MATCHES "spool ${VERSION}: ok")
    message(FATAL_ERROR "consumer printed '${run_out}', expected "
      "'spool ${VERSION}: ok'")
  endif()
  # A shared consumer must load the installed library, not the build tree's.
  if(SHARED)
    run(ldd ${exe})
    get_filename_component(want "${PREFIX}/${LIBDIR}" REALPATH)
    if(NOT run_out MATCHES "libspool\\.so\\.0 => ([^ ]+)")
      message(FATAL_ERROR "${exe} does not load libspool.so.0")
    endif()
    get_filename_component(got "${CMAKE_MATCH_1}" DIRECTORY)
    get_filename_component(got "${got}" REALPATH)
    if(NOT got STREQUAL want)
      message(FATAL_ERROR "${exe} loads libspool from ${got}, not ${want}")
    endif()
  endif()
endfunction()

if(STEP STREQUAL "install")
  file(REMOVE_RECURSE ${PREFIX})
  run(${CMAKE_COMMAND} --install ${BIN} --prefix ${PREFIX} --config ${CONFIG})
  foreach(f include/spool.h include/spool/future.h
      ${LIBDIR}/cmake/spool/spoolConfig.cmake
      ${LIBDIR}/cmake/spool/spoolConfigVersion.cmake
      ${LIBDIR}/pkgconfig/spool.pc)
    if(NOT EXISTS ${PREFIX}/${f})
      message(FATAL_ERROR "not installed: ${f}")
    endif()
  endforeach()
  # Internal headers stay in the source tree.
  file(GLOB_RECURSE leaked RELATIVE ${PREFIX}/include ${PREFIX}/include/*_impl.h)
  if(leaked)
    message(FATAL_ERROR "internal headers installed: ${leaked}")
  endif()

elseif(STEP STREQUAL "find_package")
  set(b ${WORK}/find_package)
  file(REMOVE_RECURSE ${b})
  run(${CMAKE_COMMAND} -S ${SRC} -B ${b} -G ${GENERATOR}
    -DCMAKE_C_COMPILER=${CC} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${PREFIX} -Dspool_DIR=)
  if(NOT EXISTS ${b}/CMakeCache.txt)
    message(FATAL_ERROR "configure left no cache")
  endif()
  file(STRINGS ${b}/CMakeCache.txt dir REGEX "^spool_DIR:")
  get_filename_component(want "${PREFIX}/${LIBDIR}/cmake/spool" REALPATH)
  string(REGEX REPLACE "^[^=]*=" "" dir "${dir}")
  get_filename_component(dir "${dir}" REALPATH)
  if(NOT dir STREQUAL want)
    message(FATAL_ERROR "find_package(spool) found ${dir}, not ${want}")
  endif()
  run(${CMAKE_COMMAND} --build ${b})
  run_consumer(${b}/consumer)

elseif(STEP STREQUAL "pkg_config")
  set(b ${WORK}/pkg_config)
  file(REMOVE_RECURSE ${b})
  file(MAKE_DIRECTORY ${b})
  set(ENV{PKG_CONFIG_PATH} ${PREFIX}/${LIBDIR}/pkgconfig)
  set(static)
  if(NOT SHARED)
    set(static --static)
  endif()
  run(${PKG_CONFIG} --cflags spool)
  # Only spool's own include directory: a dependency's flags (ck.pc's
  # -D__x86_64__) have no business in a user's compile line.
  if(run_out MATCHES "-D")
    message(FATAL_ERROR "pkg-config --cflags spool defines macros: ${run_out}")
  endif()
  separate_arguments(cflags UNIX_COMMAND "${run_out}")
  run(${PKG_CONFIG} --libs ${static} spool)
  separate_arguments(libs UNIX_COMMAND "${run_out}")
  run(${PKG_CONFIG} --variable=libdir spool)
  string(STRIP "${run_out}" libdir)
  get_filename_component(libdir "${libdir}" REALPATH)
  get_filename_component(want "${PREFIX}/${LIBDIR}" REALPATH)
  if(NOT libdir STREQUAL want)
    message(FATAL_ERROR "spool.pc points at ${libdir}, not ${want}")
  endif()
  run(${CC} -std=c11 -Wall -Wextra -Werror ${cflags} ${SRC}/consumer.c
    -o ${b}/consumer ${libs} -Wl,-rpath,${libdir})
  run_consumer(${b}/consumer)

elseif(STEP STREQUAL "symbols")
  set(lib ${PREFIX}/${LIBDIR}/libspool.so.0)
  if(NOT EXISTS ${lib})
    message(FATAL_ERROR "${lib} is not installed")
  endif()
  run(${READELF} -d ${lib})
  if(NOT run_out MATCHES "\\(SONAME\\)[^\n]*\\[libspool\\.so\\.0\\]")
    message(FATAL_ERROR "SONAME is not libspool.so.0")
  endif()
  run(${NM} -D --defined-only ${lib})
  string(REPLACE "\n" ";" lines "${run_out}")
  set(public 0)
  set(bad)
  foreach(line ${lines})
    # "<address> <type> <name>"; nm -D shows only the dynamic symbol table.
    if(NOT line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) (.+)$")
      continue()
    endif()
    set(name ${CMAKE_MATCH_2})
    # Public API: spool_ followed by a letter; spool__* is internal.
    if(name MATCHES "^spool_[a-z]")
      math(EXPR public "${public} + 1")
    elseif(NOT name MATCHES "^(_init|_fini|_edata|_end|__bss_start)$")
      list(APPEND bad ${name})
    endif()
  endforeach()
  if(bad)
    list(JOIN bad " " bad)
    message(FATAL_ERROR "exported symbols outside spool_*: ${bad}")
  endif()
  if(public EQUAL 0)
    message(FATAL_ERROR "no spool_* symbol exported at all")
  endif()
  message(STATUS "${public} public symbols, nothing else exported")

else()
  message(FATAL_ERROR "unknown STEP '${STEP}'")
endif()
