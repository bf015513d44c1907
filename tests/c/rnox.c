/* rnox: read-only data cannot run. */
#include "common.h"

static const uint8_t rodata_code[4] = { 0xc3, 0xc3, 0xc3, 0xc3 };

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("rnox");
    ((void (*)(void))(uintptr_t)rodata_code)();
    return failure("ran code in .rodata");
}
