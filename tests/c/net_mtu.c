/*
 * net_mtu: prints the MTU of service0, checks that a frame one byte over
 * MTU + 14 is refused with SOLO5_R_EINVAL, then answers ping until it has
 * answered an echo request of the maximum size (MTU + 14 bytes).
 */
#include "net_common.h"

static int done(const struct iface *ifs, size_t n)
{
    (void)n;
    return ifs[0].largest_echo == ifs[0].info.mtu + SOLO5_NET_HLEN;
}

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("net_mtu");
    struct iface i;
    if (!iface_acquire(&i, "service0", 10, 0, 0, 2))
        return SOLO5_EXIT_FAILURE;
    printf("MTU is %lu\n", (unsigned long)i.info.mtu);
    memset(frame, 0, sizeof frame);
    CHECK(solo5_net_write(i.h, frame, i.info.mtu + SOLO5_NET_HLEN + 1) == SOLO5_R_EINVAL,
            "a frame of MTU + 15 bytes was not refused with EINVAL");
    if (!serve(&i, 1, done))
        return failure("net I/O failed");
    printf("Answered a maximum-size echo request (%lu bytes)\n",
            (unsigned long)(i.info.mtu + SOLO5_NET_HLEN));
    return success();
}
