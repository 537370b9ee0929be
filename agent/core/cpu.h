/*
 * cpu.h -- what the processor can do, for the code that has a faster path for it.
 */
#ifndef SMTPMON_AGENT_CPU_H
#define SMTPMON_AGENT_CPU_H

#if defined(__SSE2__) && defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
/* an AVX2 path may be compiled (target attribute) and chosen at run time */
#define CPU_X86_AVX2 1

/* AVX2 in the processor, and the 32-byte registers saved by the system. */
static inline int
cpu_have_avx2(void)
{
    unsigned a, b, c, d, lo, hi;

    if (!__get_cpuid(1, &a, &b, &c, &d) || (c & bit_OSXSAVE) == 0 || (c & bit_AVX) == 0) {
        return 0;
    }
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    if ((lo & 6) != 6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        return 0;
    }
    return (b & bit_AVX2) != 0;
}
#endif

#endif
