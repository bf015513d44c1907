/* exception: a write far outside guest memory faults. */
#include "common.h"

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("exception");
    *(volatile uint8_t *)(uintptr_t)(2ULL << 33) = 1;
    return failure("the write did not fault");
}
