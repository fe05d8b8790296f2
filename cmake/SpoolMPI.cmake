# SPDX-License-Identifier: MIT
# spool-mpi, the optional component: MPI requests as futures and a remote
# executor (include/spool/mpi.h, src/mpi/). Its own library, libspool-mpi
# (target spool_mpi, alias spool::mpi), linked against libspool and MPI;
# libspool itself never depends on MPI.
#
#   SPOOL_MPI=AUTO  build it when CMake finds MPI for C (the default)
#   SPOOL_MPI=ON    build it, and fail here if MPI is not found
#   SPOOL_MPI=OFF   never build it
#
# SPOOL_HAVE_MPI tells the rest of the build (tests, examples, compare/)
# whether the component exists; MPIEXEC_EXECUTABLE and friends (from
# FindMPI) say how to launch its programs.
set(SPOOL_MPI AUTO CACHE STRING "Build spool-mpi: AUTO (when MPI is found), ON (required) or OFF")
set_property(CACHE SPOOL_MPI PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${SPOOL_MPI}" _spool_mpi)
if(NOT _spool_mpi MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "SPOOL_MPI must be AUTO, ON or OFF (got '${SPOOL_MPI}')")
endif()

set(SPOOL_HAVE_MPI OFF)
if(NOT _spool_mpi STREQUAL "OFF")
  find_package(MPI COMPONENTS C)
  if(MPI_C_FOUND)
    set(SPOOL_HAVE_MPI ON)
  elseif(_spool_mpi STREQUAL "ON")
    message(FATAL_ERROR
      "SPOOL_MPI=ON but no MPI for C was found. Install one (Debian: "
      "apt-get install openmpi-bin libopenmpi-dev) or configure with "
      "-DSPOOL_MPI=AUTO or OFF.")
  else()
    message(STATUS "spool-mpi: no MPI found, so it is not built "
      "(Debian: openmpi-bin libopenmpi-dev)")
  endif()
endif()

if(SPOOL_HAVE_MPI)
  set(SPOOL_MPI_SOURCES)
  include(${PROJECT_SOURCE_DIR}/src/mpi/sources.cmake)
  add_library(spool_mpi ${SPOOL_MPI_SOURCES})
  add_library(spool::mpi ALIAS spool_mpi)
  target_include_directories(spool_mpi
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(spool_mpi PRIVATE _GNU_SOURCE)
  target_link_libraries(spool_mpi PUBLIC spool MPI::MPI_C Threads::Threads)
  target_compile_options(spool_mpi PRIVATE ${SPOOL_WARNINGS})
  set_target_properties(spool_mpi PROPERTIES
    OUTPUT_NAME spool-mpi
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}
    EXPORT_NAME mpi)

  # How tests, examples and benchmarks start a program on n ranks: as
  # root, Open MPI refuses to run without --allow-run-as-root; on a
  # machine with fewer cores than ranks it needs --oversubscribe.
  set(SPOOL_MPIEXEC_FLAGS)
  execute_process(COMMAND id -u OUTPUT_VARIABLE _spool_uid
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version
    OUTPUT_VARIABLE _spool_mpiexec_version ERROR_QUIET)
  if(_spool_mpiexec_version MATCHES "Open MPI|OpenRTE")
    set(SPOOL_MPI_IS_OPENMPI ON)
    list(APPEND SPOOL_MPIEXEC_FLAGS --oversubscribe)
    if(_spool_uid STREQUAL "0")
      list(APPEND SPOOL_MPIEXEC_FLAGS --allow-run-as-root)
    endif()
  else()
    set(SPOOL_MPI_IS_OPENMPI OFF)
  endif()

  # Whether programs run under mpiexec as tests (the mpi suites, the
  # examples, the bench smoke test). Not in a ThreadSanitizer build: Open
  # MPI's libraries are not instrumented, and TSan reports their own lock
  # order (mca_btl_tcp_add_procs against mca_btl_tcp_proc_remove) and the
  # memory their progress and PMIx threads share, none of it spool's
  # (docs/mpi.md, "Sanitizers").
  if(SPOOL_SANITIZE STREQUAL "thread")
    set(SPOOL_MPI_RUN_TESTS OFF)
    message(STATUS "spool-mpi: its programs are not run as tests under ThreadSanitizer")
  else()
    set(SPOOL_MPI_RUN_TESTS ${SPOOL_BUILD_TESTS})
  endif()

  # Programs under mpiexec in an AddressSanitizer build (tests, examples,
  # the bench smoke test): LeakSanitizer ignores what Open MPI keeps past
  # MPI_Finalize (test/mpi/lsan.supp says how), which needs its plugins
  # kept loaded and the slow unwinder to see whose allocation a leak is.
  set(SPOOL_MPI_TEST_ENV)
  if(SPOOL_SANITIZE STREQUAL "address")
    set(SPOOL_MPI_TEST_ENV
      "OMPI_MCA_mca_base_component_disable_dlclose=1"
      "ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0"
      "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/test/mpi/lsan.supp:print_suppressions=0")
  endif()

  # Installed as a component of the spool package:
  # find_package(spool COMPONENTS mpi) gives spool::mpi.
  install(TARGETS spool_mpi EXPORT spoolMpiTargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(FILES ${PROJECT_SOURCE_DIR}/include/spool/mpi.h
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/spool)
  install(EXPORT spoolMpiTargets
    NAMESPACE spool::
    FILE spoolMpiTargets.cmake
    DESTINATION ${SPOOL_INSTALL_CMAKEDIR})

  # spool-mpi.pc: requires spool and the MPI's own pkg-config module when
  # there is one (Debian's mpi-c, an alternative that follows the MPI
  # chosen), else carries MPI's flags itself.
  pkg_check_modules(SPOOL_PC_MPIC QUIET mpi-c)
  if(SPOOL_PC_MPIC_FOUND)
    set(SPOOL_MPI_PC_REQUIRES "spool, mpi-c")
    set(SPOOL_MPI_PC_CFLAGS "")
    set(SPOOL_MPI_PC_LIBS "")
  else()
    set(SPOOL_MPI_PC_REQUIRES "spool")
    set(SPOOL_MPI_PC_CFLAGS "")
    foreach(_d ${MPI_C_INCLUDE_DIRS})
      string(APPEND SPOOL_MPI_PC_CFLAGS " -I${_d}")
    endforeach()
    string(JOIN " " SPOOL_MPI_PC_LIBS ${MPI_C_LIBRARIES})
  endif()
  configure_file(${CMAKE_CURRENT_LIST_DIR}/spool-mpi.pc.in
    ${PROJECT_BINARY_DIR}/spool-mpi.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/spool-mpi.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
