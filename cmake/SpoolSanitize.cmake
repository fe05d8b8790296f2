# SPDX-License-Identifier: MIT
# SPOOL_SANITIZE: "" (none), "address" (AddressSanitizer + UndefinedBehavior
# Sanitizer) or "thread" (ThreadSanitizer). ASan and TSan cannot share a
# process, so any other value, or a list naming both, is refused.
if(SPOOL_SANITIZE STREQUAL "")
  return()
elseif(SPOOL_SANITIZE STREQUAL "address")
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=undefined)
elseif(SPOOL_SANITIZE STREQUAL "thread")
  set(_san -fsanitize=thread)
else()
  message(FATAL_ERROR "SPOOL_SANITIZE='${SPOOL_SANITIZE}' is not possible: "
    "use 'address' (address+undefined) or 'thread'; address and thread "
    "sanitizers cannot be combined in one process")
endif()
add_compile_options(${_san} -fno-omit-frame-pointer -g)
add_link_options(${_san})
