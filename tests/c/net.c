/*
 * net: answers ARP and ping on service0 as 10.0.0.2. With the argument
 * "limit" it exits with SUCCESS after 100000 echo replies; otherwise it
 * serves until stopped.
 */
#include "net_common.h"

static int limit;

static int done(const struct iface *ifs, size_t n)
{
    (void)n;
    return limit && ifs[0].echoes >= 100000;
}

int solo5_app_main(const struct solo5_start_info *si)
{
    banner("net");
    limit = streq(si->cmdline, "limit");
    struct iface i;
    if (!iface_acquire(&i, "service0", 10, 0, 0, 2))
        return SOLO5_EXIT_FAILURE;
    if (!serve(&i, 1, done))
        return failure("net I/O failed");
    puts("Limit reached, exiting\n");
    return success();
}
