/* simd.h — element-wise loops compiled for the vector ISA the GEMM kernel
 * uses (AVX-512, AVX2, or the baseline), chosen at run time with it.
 *
 * A loop body is written once in plain C as a static inline function of
 * (lo, hi, ctx); NN_SIMD_RANGE(name, body) makes name(lo, hi, ctx), an
 * nn_range_fn that calls a copy of the body compiled for AVX-512F, one for
 * AVX2, or the body itself, after nn_gemm_isa() (the CPU's best, or what
 * NNRUN_KERNEL / nn_gemm_force_kernel chose).  The library is built in ISO
 * C mode, where the compiler never fuses a multiply and an add
 * (-ffp-contract=off) nor reorders floating-point operations, so every
 * copy computes each element with the same IEEE operations in the same
 * order: the same bits in every copy, only more elements per instruction.
 * Calls into libm (expf, erff, ...) stay scalar calls in every copy.
 */
#ifndef NN_SIMD_H
#define NN_SIMD_H

#include <stdint.h>

#include "gemm.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define NN_SIMD_X86 1
#define NN_TARGET_512 __attribute__((target("avx512f,avx512dq,avx2")))
#define NN_TARGET_256 __attribute__((target("avx2")))
#define NN_SIMD_BODY static inline __attribute__((always_inline))
#define NN_SIMD_RANGE(name, body)                                                                  \
    NN_TARGET_512 static void name##_512(int64_t lo, int64_t hi, void *ctx) { body(lo, hi, ctx); } \
    NN_TARGET_256 static void name##_256(int64_t lo, int64_t hi, void *ctx) { body(lo, hi, ctx); } \
    static void name(int64_t lo, int64_t hi, void *ctx)                                            \
    {                                                                                              \
        const int isa_ = nn_gemm_isa();                                                            \
        if (isa_ == 2)                                                                             \
            name##_512(lo, hi, ctx);                                                               \
        else if (isa_ == 1)                                                                        \
            name##_256(lo, hi, ctx);                                                               \
        else                                                                                       \
            body(lo, hi, ctx);                                                                     \
    }
#else
#define NN_SIMD_BODY static inline
#define NN_SIMD_RANGE(name, body)                                                                  \
    static void name(int64_t lo, int64_t hi, void *ctx) { body(lo, hi, ctx); }
#endif

#endif
