/* xnow: code written to the heap cannot run. */
#include "common.h"

int solo5_app_main(const struct solo5_start_info *si)
{
    banner("xnow");
    volatile uint8_t *code = (volatile uint8_t *)si->heap_start;
    code[0] = 0xc3; /* ret */
    ((void (*)(void))(uintptr_t)code)();
    return failure("ran code in the heap");
}
