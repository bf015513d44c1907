/*
 * test_ssp, in C against solo5.h, built with the stack protector
 * (-fstack-protector-strong -mstack-protector-guard=global): a copy past
 * the end of a buffer on the stack overwrites the frame's guard, and the
 * function's return calls __stack_chk_fail, which aborts with
 * "Solo5: ABORT: Stack corruption detected" (status 255). Reaching
 * FAILURE means the protector did not fire.
 */
#include "solo5.h"

static size_t length(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return n;
}

static void print(const char *s)
{
    solo5_console_write(s, length(s));
}

/* Not inlined, so that the overflowing frame returns. */
__attribute__((noinline)) static void overflow(const char *src, size_t n)
{
    char buf[16];
    /* Through a volatile pointer, so the compiler cannot see the bounds
     * (and drop the loop's end as undefined behaviour). */
    char *volatile dst = buf;
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
    solo5_console_write(buf, 16);
    print("\n");
}

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    print("\n**** Solo5 standalone test_ssp ****\n\n");
    static const char pattern[] = "1234567890123456789012345678901234567890";
    overflow(pattern, sizeof pattern - 1);
    print("FAILURE: the stack protector did not fire\n");
    return SOLO5_EXIT_FAILURE;
}
