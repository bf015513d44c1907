/*
 * work: CPU work for scripts/bench-toolchain, timed inside the guest with
 * solo5_clock_monotonic.
 *
 *   loop N       N rounds of a dependent multiply-add (x = x * 3 + 1)
 *   checksum N   N passes summing the 64-bit words of a 1 MiB buffer
 *                (touched once before the clock starts)
 *
 * Prints "work: MODE N: T ns (R)" and SUCCESS.
 */
#include "common.h"

#define BUF_WORDS (1024 * 1024 / 8)
static uint64_t buf[BUF_WORDS];

static uint64_t parse(const char *s)
{
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

int solo5_app_main(const struct solo5_start_info *si)
{
    const char *c = si->cmdline;
    int loop = c[0] == 'l';
    while (*c && *c != ' ')
        c++;
    while (*c == ' ')
        c++;
    uint64_t n = parse(c);
    CHECK(n > 0, "usage: loop N | checksum N");
    uint64_t r = 0;
    solo5_time_t t0, t1;
    if (loop) {
        uint64_t x = 1;
        t0 = solo5_clock_monotonic();
        for (uint64_t i = 0; i < n; i++) {
            x = x * 3 + 1;
            __asm__ volatile("" : "+r"(x));
        }
        t1 = solo5_clock_monotonic();
        r = x;
    } else {
        for (size_t i = 0; i < BUF_WORDS; i++)
            buf[i] = i * 0x9e3779b97f4a7c15ULL;
        t0 = solo5_clock_monotonic();
        for (uint64_t p = 0; p < n; p++) {
            for (size_t i = 0; i < BUF_WORDS; i++)
                r += buf[i];
            __asm__ volatile("" : "+r"(r));
        }
        t1 = solo5_clock_monotonic();
    }
    printf("work: %s %lu: %lu ns (%lx)\n", loop ? "loop" : "checksum", (unsigned long)n,
            (unsigned long)(t1 - t0), (unsigned long)r);
    return success();
}
