/* notls: with the TLS base left at 0, a thread-local access faults. */
#include "common.h"

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("notls");
    uint64_t v;
    __asm__ volatile("movq %%fs:0x28, %0" : "=r"(v));
    printf("read %lx\n", (unsigned long)v);
    return failure("reading %fs:0x28 did not fault");
}
