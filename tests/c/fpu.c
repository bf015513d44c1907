/* fpu: SSE arithmetic (the compiler uses SSE for doubles on x86_64). */
#include "common.h"

static volatile double seed = 1.5;

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("fpu");
    double x = seed, acc = 0.0;
    for (int i = 0; i < 1000; i++) {
        acc += x * 0.5;
        x = x * 1.0001 + 0.25;
    }
    float f[4] __attribute__((aligned(16))) = { 1.0f, 2.0f, 3.0f, 4.0f };
    float g[4] __attribute__((aligned(16))) = { 0.5f, 0.25f, 2.0f, 8.0f };
    __asm__ volatile("movaps %0, %%xmm1\n\tmulps %1, %%xmm1\n\tmovaps %%xmm1, %0"
            : "+m"(f) : "m"(g) : "xmm1");
    printf("acc = %lu, products %d %d %d %d\n", (unsigned long)acc, (int)(f[0] * 100),
            (int)(f[1] * 100), (int)(f[2] * 100), (int)(f[3] * 100));
    CHECK(acc > 65356.0 && acc < 65356.5, "double arithmetic is wrong");
    CHECK(f[0] == 0.5f && f[1] == 0.5f && f[2] == 6.0f && f[3] == 32.0f,
            "mulps is wrong");
    return success();
}
