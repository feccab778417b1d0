# Run at install time (install(SCRIPT) in runtime/CMakeLists.txt) and by
# uninstall.cmake: after installing (or removing) libnnrun.so.N in /usr or
# /usr/local as root, refresh the dynamic linker's cache, or programs linked
# against it fail with "libnnrun.so.0: cannot open shared object file" until
# someone runs ldconfig. Other prefixes (and DESTDIR staging) are left alone:
# see the README (LD_LIBRARY_PATH or an rpath).
if(NOT "$ENV{DESTDIR}" STREQUAL "")
  return()
endif()
if(NOT CMAKE_INSTALL_PREFIX MATCHES "^/usr(/local)?/?$")
  return()
endif()
execute_process(COMMAND id -u OUTPUT_VARIABLE nn_uid OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
find_program(NN_LDCONFIG ldconfig PATHS /sbin /usr/sbin)
if(nn_uid STREQUAL "0" AND NN_LDCONFIG)
  message(STATUS "Running ldconfig")
  execute_process(COMMAND ${NN_LDCONFIG} RESULT_VARIABLE nn_rc)
  if(NOT nn_rc EQUAL 0)
    message(WARNING "ldconfig failed (${nn_rc}): run it by hand before using libnnrun")
  endif()
endif()
