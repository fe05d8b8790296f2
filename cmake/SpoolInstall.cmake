# SPDX-License-Identifier: MIT
# Installing spool: the library (shared or static, per BUILD_SHARED_LIBS),
# the public headers, a CMake package (spool::spool, found again with
# find_package(spool)) and a pkg-config file (spool.pc).
#
# Both package files are relocatable: the CMake config computes its prefix
# from its own location, and spool.pc from ${pcfiledir}, so
# `cmake --install <build> --prefix <anywhere>` gives a working tree.
include(CMakePackageConfigHelpers)

set(SPOOL_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/spool
  CACHE STRING "Where spoolConfig.cmake is installed, relative to the prefix")
mark_as_advanced(SPOOL_INSTALL_CMAKEDIR)

install(TARGETS spool EXPORT spoolTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# Public headers only: the internal ones live in src/ and are never installed.
# spool/mpi.h belongs to the MPI component and is installed with it
# (cmake/SpoolMPI.cmake).
install(FILES ${PROJECT_SOURCE_DIR}/include/spool.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/spool
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h" PATTERN "mpi.h" EXCLUDE)

install(EXPORT spoolTargets
  NAMESPACE spool::
  FILE spoolTargets.cmake
  DESTINATION ${SPOOL_INSTALL_CMAKEDIR})

# A static libspool.a needs Concurrency Kit at the consumer's link step; a
# shared libspool.so carries that dependency itself (DT_NEEDED).
get_target_property(_spool_type spool TYPE)
if(_spool_type STREQUAL "STATIC_LIBRARY")
  set(SPOOL_CONFIG_STATIC ON)
else()
  set(SPOOL_CONFIG_STATIC OFF)
endif()

configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/spoolConfig.cmake.in
  ${PROJECT_BINARY_DIR}/spoolConfig.cmake
  INSTALL_DESTINATION ${SPOOL_INSTALL_CMAKEDIR})
# 0.x releases follow the SONAME (libspool.so.0): same major, compatible.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/spoolConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/spoolConfig.cmake
  ${PROJECT_BINARY_DIR}/spoolConfigVersion.cmake
  DESTINATION ${SPOOL_INSTALL_CMAKEDIR})

# spool.pc: prefix relative to the .pc file's own directory, which sits at
# <prefix>/<libdir>/pkgconfig.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(SPOOL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(SPOOL_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH _spool_up
    /_p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /_p)
  set(SPOOL_PC_PREFIX "\${pcfiledir}/${_spool_up}")
  string(REGEX REPLACE "/$" "" SPOOL_PC_PREFIX "${SPOOL_PC_PREFIX}")
  set(SPOOL_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(SPOOL_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(SPOOL_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/spool.pc.in
  ${PROJECT_BINARY_DIR}/spool.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/spool.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
