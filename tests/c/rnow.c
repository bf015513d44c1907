/* rnow: read-only data cannot be written. */
#include "common.h"

static const char rodata[8] = "rodata!";

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("rnow");
    *(volatile char *)(uintptr_t)rodata = 'A';
    return failure("wrote to .rodata");
}
