# SPDX-License-Identifier: MIT
# spool_source_labels(<source> <var>): appends to <var> the ctest labels a
# test or example source declares in a line of its own:
#   /* ctest-labels: lesson */
# "lesson" marks checks of timing properties, which sanitizer builds skip.
# Used by test/, examples/ and compare/app/, so all three read the line the
# same way.
function(spool_source_labels src var)
  set(labels ${${var}})
  file(STRINGS ${src} _decl REGEX "^/\\* ctest-labels: .* \\*/$")
  if(_decl)
    string(REGEX REPLACE "^/\\* ctest-labels: (.*) \\*/$" "\\1" _l "${_decl}")
    string(REPLACE " " ";" _l "${_l}")
    list(APPEND labels ${_l})
  endif()
  set(${var} ${labels} PARENT_SCOPE)
endfunction()
