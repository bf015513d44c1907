/*
 * net_2if: answers ping on service0 as 10.0.0.2 and on service1 as
 * 10.1.0.2. With "limit" it exits with SUCCESS once each interface has
 * answered 50000 echo requests.
 */
#include "net_common.h"

static int limit;

static int done(const struct iface *ifs, size_t n)
{
    (void)n;
    return limit && ifs[0].echoes >= 50000 && ifs[1].echoes >= 50000;
}

int solo5_app_main(const struct solo5_start_info *si)
{
    banner("net_2if");
    limit = streq(si->cmdline, "limit");
    struct iface ifs[2];
    if (!iface_acquire(&ifs[0], "service0", 10, 0, 0, 2)
            || !iface_acquire(&ifs[1], "service1", 10, 1, 0, 2))
        return SOLO5_EXIT_FAILURE;
    CHECK(ifs[0].h != ifs[1].h, "both interfaces have one handle");
    if (!serve(ifs, 2, done))
        return failure("net I/O failed");
    puts("Limit reached, exiting\n");
    return success();
}
