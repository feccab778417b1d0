#!/bin/sh
# The layers of DESIGN.md, checked: runtime/ includes no Lua header and never
# exits, aborts or prints, and has no MPI; only bindings/ includes lua.h (and tests/fuzz/,
# whose harness drives the YAML reader of bindings/, tests/bindings/, its C tests, and
# tests/install/sandbox_host.c, a host of the installed module).
set -u
root=${1:-$(dirname "$0")/..}
fail=0
hits=$(grep -rnE '#\s*include\s*[<"](lua|lauxlib|lualib)\.h' "$root/runtime" 2>/dev/null)
if [ -n "$hits" ]; then
    echo "runtime/ must not include Lua headers:"; echo "$hits"; fail=1
fi
hits=$(grep -rnE '#\s*include\s*[<"]mpi\.h' "$root/runtime" 2>/dev/null)
if [ -n "$hits" ]; then
    echo "runtime/ must not use MPI (bindings/l_mpi.c is the MPI glue):"; echo "$hits"; fail=1
fi
hits=$(grep -rnE '(^|[^_[:alnum:]])(exit|abort|_Exit|printf|puts|putchar|perror)\s*\(|fprintf\s*\(\s*(stdout|stderr)' \
    "$root/runtime/src" "$root/runtime/include" 2>/dev/null | grep -v '^\s*/\?\*')
if [ -n "$hits" ]; then
    echo "runtime/ must not exit, abort or print:"; echo "$hits"; fail=1
fi
hits=$(grep -rlE '#\s*include\s*[<"](lua|lauxlib|lualib)\.h' "$root" --include=*.c --include=*.h 2>/dev/null |
    grep -v "^$root/bindings/" | grep -v "^$root/tests/fuzz/" | grep -v "^$root/tests/bindings/" | grep -v "^$root/tests/install/sandbox_host.c" | grep -v "/build")
if [ -n "$hits" ]; then
    echo "only bindings/ (and the tests of it: tests/fuzz, tests/bindings) may include Lua headers:"; echo "$hits"; fail=1
fi
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
