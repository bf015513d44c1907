/* wnox: code cannot be written. */
#include "common.h"

static void __attribute__((noinline)) nothing(void)
{
    __asm__ volatile("");
}

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("wnox");
    *(volatile uint8_t *)(uintptr_t)nothing = 0xc3;
    nothing();
    return failure("wrote to .text");
}
