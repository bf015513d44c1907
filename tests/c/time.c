/* time: both clocks advance, yield sleeps until its deadline and not past it. */
#include "common.h"

#define NSEC_PER_SEC 1000000000ULL
#define SLACK 100000000ULL

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("time");
    solo5_time_t ta = solo5_clock_monotonic(), tb = ta;
    for (int i = 0; i < 1000 && tb == ta; i++)
        tb = solo5_clock_monotonic();
    CHECK(tb > ta, "monotonic time is not passing");

    /* 2020-01-01 in ns: the wall clock is not the monotonic one. */
    CHECK(solo5_clock_wall() > 1577836800ULL * NSEC_PER_SEC, "wall clock before 2020");

    solo5_handle_set_t ready = ~0ULL;
    ta = solo5_clock_monotonic();
    solo5_yield(0, &ready);
    tb = solo5_clock_monotonic();
    CHECK(ready == 0, "yield to a past deadline reported ready handles");
    CHECK(tb - ta < SLACK, "yield to a past deadline did not return at once");
    solo5_yield(0, NULL);

    int failed = 0;
    for (int i = 3; i > 0; i--) {
        printf("[%d] Sleeping for 0.5 s...\n", i);
        solo5_time_t w0 = solo5_clock_wall();
        ta = solo5_clock_monotonic();
        ready = ~0ULL;
        solo5_yield(ta + NSEC_PER_SEC / 2, &ready);
        tb = solo5_clock_monotonic();
        solo5_time_t w1 = solo5_clock_wall();
        printf("[%d] Slept for %lu ns (wall %lu ns)\n", i, (unsigned long)(tb - ta),
                (unsigned long)(w1 - w0));
        if (tb - ta < NSEC_PER_SEC / 2) {
            puts("ERROR: woke up early\n");
            failed = 1;
        }
        if (tb - ta > NSEC_PER_SEC / 2 + SLACK) {
            puts("ERROR: slept too long\n");
            failed = 1;
        }
        if (ready != 0) {
            puts("ERROR: woke up with handles ready\n");
            failed = 1;
        }
        if (w1 < w0 + NSEC_PER_SEC / 2 - SLACK) {
            puts("ERROR: the wall clock did not advance with the monotonic one\n");
            failed = 1;
        }
    }
    CHECK(!failed, "see the errors above");
    return success();
}
