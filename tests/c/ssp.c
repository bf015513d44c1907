/*
 * ssp: a stack buffer overflow in a function the stack protector covers
 * ends in the bindings' __stack_chk_fail: abort, status 255.
 */
#include "common.h"

static void __attribute__((noinline)) smash(const char *src, size_t n)
{
    char buf[16];
    volatile char *p = buf;
    for (size_t i = 0; i < n; i++)
        p[i] = src[i % 16];
    solo5_console_write(buf, 16);
    puts("\n");
}

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("ssp");
    smash("1234567890123456", 16 + 32);
    return failure("the smashed stack went unnoticed");
}
