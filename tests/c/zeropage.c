/* zeropage: a read of address 0 faults. */
#include "common.h"

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("zeropage");
    volatile uint64_t *zero = (volatile uint64_t *)(uintptr_t)0;
    printf("read %lx\n", (unsigned long)*zero);
    return failure("reading address 0 did not fault");
}
