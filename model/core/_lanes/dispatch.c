/* The instruction set, chosen at run time (compiled with baseline flags): AVX-512 (F and DQ)
   if the CPU has it, else AVX2 with FMA, else the x86-64 baseline (SSE2). */
#include <stdint.h>
#include <stddef.h>

typedef void (*kernel_fn)();
kernel_fn lanes_kernel_avx512(int64_t, int64_t);
kernel_fn lanes_kernel_avx2(int64_t, int64_t);
kernel_fn lanes_kernel_base(int64_t, int64_t);

/* 3: AVX-512, 2: AVX2 + FMA, 1: baseline. `force` (> 0) picks a lower one (for tests and the bench). */
int lanes_isa(int force)
{
    int best = 1;
#if defined(__x86_64__) && !defined(LANES_BASE_ONLY)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = 2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) best = 3;
#endif
    return force > 0 && force < best ? force : best;
}

kernel_fn lanes_kernel(int isa, int64_t n_firms, int64_t lanes)
{
#if defined(LANES_BASE_ONLY)
    (void)isa;
    return lanes_kernel_base(n_firms, lanes);
#else
    switch (isa) {
    case 3: return lanes_kernel_avx512(n_firms, lanes);
    case 2: return lanes_kernel_avx2(n_firms, lanes);
    default: return lanes_kernel_base(n_firms, lanes);
    }
#endif
}
