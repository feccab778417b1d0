# cmake -DMANIFEST=build/install_manifest.txt -P cmake/uninstall.cmake
# removes every file the last `cmake --install` of that build wrote (the
# manifest lists them, one absolute path a line), then the directories of
# nnrun's own (lib/cmake/nnrun, share/lua/5.4/nnrun...) left empty; after
# removing libnnrun from /usr or /usr/local as root, runs ldconfig.
if(NOT DEFINED MANIFEST)
  message(FATAL_ERROR "uninstall: set -DMANIFEST=<build>/install_manifest.txt")
endif()
if(NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "uninstall: ${MANIFEST} does not exist (nothing installed from this build: run make install first)")
endif()
file(STRINGS "${MANIFEST}" nn_files)
set(nn_dirs "")
foreach(f IN LISTS nn_files)
  if(IS_SYMLINK "$ENV{DESTDIR}${f}" OR EXISTS "$ENV{DESTDIR}${f}")
    message(STATUS "Uninstalling: $ENV{DESTDIR}${f}")
    file(REMOVE "$ENV{DESTDIR}${f}")
    if(f MATCHES "^(/usr(/local)?)/lib/.*libnnrun\\.so")
      set(nn_system_lib "${CMAKE_MATCH_1}")
    endif()
  endif()
  get_filename_component(d "$ENV{DESTDIR}${f}" DIRECTORY)
  list(APPEND nn_dirs "${d}")
endforeach()
# Deepest first, so lib/cmake/nnrun goes before a parent named nnrun.
list(REMOVE_DUPLICATES nn_dirs)
list(SORT nn_dirs ORDER DESCENDING)
foreach(d IN LISTS nn_dirs)
  get_filename_component(name "${d}" NAME)
  file(GLOB left "${d}/*")
  if(name MATCHES "nnrun" AND IS_DIRECTORY "${d}" AND NOT left)
    file(REMOVE_RECURSE "${d}")
  endif()
endforeach()
# The dynamic linker's cache still names the removed libnnrun.so.N.
if(nn_system_lib)
  set(CMAKE_INSTALL_PREFIX "${nn_system_lib}")
  include(${CMAKE_CURRENT_LIST_DIR}/ldconfig.cmake)
endif()
