#!/bin/sh
# tools/fuzz.sh [SECONDS] — build the libFuzzer targets of tests/fuzz with
# clang (AddressSanitizer + UndefinedBehaviorSanitizer) and run each for
# SECONDS (default 60).  Crashes are left in build-fuzz/<target>/crash-*.
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build-fuzz
mkdir -p "$out"
# A huge allocation returns NULL as in production (the library must cope).
export ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1}"
flags="-g -O1 -std=c11 -DNNRUN_FUZZING -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Wno-unknown-pragmas"
inc="-I$root/runtime/include -I$root/runtime/src -I$root/bindings -I/usr/include/lua5.4"
runtime=$(find "$root/runtime/src" -name '*.c' | sort)
for t in checkpoint csv idx yaml; do
    extra=""
    [ "$t" = yaml ] && extra="$root/bindings/l_yaml.c -llua5.4 -lyaml"
    # shellcheck disable=SC2086
    clang $flags $inc -o "$out/fuzz_$t" "$root/tests/fuzz/fuzz_$t.c" $runtime $extra -lz -lm
    mkdir -p "$out/$t"
    echo "fuzz_$t: $secs s"
    (cd "$out/$t" && "$out/fuzz_$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 -print_final_stats=1 . "$root/tests/fuzz/corpus/$t" 2>&1 |
        grep -E "stat::number_of_executed_units|ERROR|SUMMARY|crash-" || true)
done
