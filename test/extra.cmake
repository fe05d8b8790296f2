# SPDX-License-Identifier: MIT
# Tests beyond the Check suites (included from test/CMakeLists.txt).
#
# Label "install": install this build tree into a scratch prefix and build a
# small consumer against it twice, with find_package(spool) and with
# pkg-config; check the shared library's SONAME and that it exports nothing
# but spool_*. A sanitizer build is not something one installs (its library
# needs the sanitizer runtime loaded first), so those builds skip them.
if(SPOOL_SANITIZE STREQUAL "")
  get_target_property(_spool_type spool TYPE)
  if(_spool_type STREQUAL "SHARED_LIBRARY")
    set(_spool_shared ON)
  else()
    set(_spool_shared OFF)
  endif()
  set(_spool_check
    -DBIN=${PROJECT_BINARY_DIR}
    -DPREFIX=${CMAKE_CURRENT_BINARY_DIR}/install-test/prefix
    -DWORK=${CMAKE_CURRENT_BINARY_DIR}/install-test
    -DSRC=${CMAKE_CURRENT_SOURCE_DIR}/consumer
    -DCONFIG=$<CONFIG>
    -DCC=${CMAKE_C_COMPILER}
    -DGENERATOR=${CMAKE_GENERATOR}
    -DLIBDIR=${CMAKE_INSTALL_LIBDIR}
    -DVERSION=${PROJECT_VERSION}
    -DSHARED=${_spool_shared}
    -DPKG_CONFIG=${PKG_CONFIG_EXECUTABLE}
    -DNM=${CMAKE_NM}
    -DREADELF=${CMAKE_READELF})
  set(_spool_install_steps install find_package pkg_config)
  if(_spool_shared)
    list(APPEND _spool_install_steps symbols)
  endif()
  foreach(step ${_spool_install_steps})
    set(name install_${step})
    if(step STREQUAL "install")
      set(name install_tree)
    endif()
    add_test(NAME ${name}
      COMMAND ${CMAKE_COMMAND} -DSTEP=${step} ${_spool_check}
              -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/check.cmake)
    set_tests_properties(${name} PROPERTIES
      LABELS install TIMEOUT 300)
    if(step STREQUAL "install")
      set_tests_properties(${name} PROPERTIES
        FIXTURES_SETUP spool_installed)
    else()
      set_tests_properties(${name} PROPERTIES
        FIXTURES_REQUIRED spool_installed)
    endif()
  endforeach()
endif()
