/*
 * A ping responder over the solo5.h net API, shared by the net cases:
 * answers ARP requests for its address and ICMP echo requests to it, on
 * one or more interfaces, sleeping in solo5_yield() between frames and
 * using its ready set to pick which interface to read.
 */
#ifndef TESTS_C_NET_COMMON_H
#define TESTS_C_NET_COMMON_H

#include "common.h"

#define ETHERTYPE_IP 0x0800
#define ETHERTYPE_ARP 0x0806
#define MAX_FRAME (65535 + SOLO5_NET_HLEN)

struct iface {
    const char *name;
    solo5_handle_t h;
    struct solo5_net_info info;
    uint8_t ip[4];
    uint64_t echoes;
    size_t largest_echo;
};

static uint8_t frame[MAX_FRAME];

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t checksum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (; n > 1; n -= 2, p += 2)
        sum += be16(p);
    if (n)
        sum += (uint32_t)p[0] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static inline int iface_acquire(struct iface *i, const char *name, uint8_t a,
        uint8_t b, uint8_t c, uint8_t d)
{
    i->name = name;
    i->ip[0] = a;
    i->ip[1] = b;
    i->ip[2] = c;
    i->ip[3] = d;
    i->echoes = 0;
    i->largest_echo = 0;
    if (solo5_net_acquire(name, &i->h, &i->info) != SOLO5_R_OK) {
        printf("Could not acquire '%s' network\n", name);
        return 0;
    }
    const uint8_t *m = i->info.mac_address;
    printf("[%s] Serving ping on %u.%u.%u.%u, with MAC: %02x:%02x:%02x:%02x:%02x:%02x, MTU %lu\n",
            name, a, b, c, d, m[0], m[1], m[2], m[3], m[4], m[5],
            (unsigned long)i->info.mtu);
    return 1;
}

/* The reply's length, or 0 when the frame needs none. */
static inline size_t answer(struct iface *i, uint8_t *f, size_t n)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    if (n < SOLO5_NET_HLEN)
        return 0;
    if (memcmp(f, i->info.mac_address, 6) != 0 && memcmp(f, bcast, 6) != 0)
        return 0;
    uint8_t *p = f + SOLO5_NET_HLEN;
    size_t pn = n - SOLO5_NET_HLEN;
    switch (be16(f + 12)) {
    case ETHERTYPE_ARP:
        if (pn < 28 || be16(p) != 1 || be16(p + 2) != ETHERTYPE_IP || p[4] != 6
                || p[5] != 4 || be16(p + 6) != 1 || memcmp(p + 24, i->ip, 4) != 0)
            return 0;
        put_be16(p + 6, 2);
        memmove(p + 18, p + 8, 10);
        memcpy(p + 8, i->info.mac_address, 6);
        memcpy(p + 14, i->ip, 4);
        n = SOLO5_NET_HLEN + 28;
        break;
    case ETHERTYPE_IP: {
        if (pn < 20 || (p[0] >> 4) != 4 || memcmp(p + 16, i->ip, 4) != 0 || p[9] != 1)
            return 0;
        size_t ihl = (size_t)(p[0] & 0xf) * 4, total = be16(p + 2);
        if (ihl < 20 || total > pn || total < ihl + 8)
            return 0;
        uint8_t *icmp = p + ihl;
        if (icmp[0] != 8)
            return 0;
        uint8_t tmp[4];
        memcpy(tmp, p + 12, 4);
        memcpy(p + 12, p + 16, 4);
        memcpy(p + 16, tmp, 4);
        icmp[0] = 0;
        put_be16(icmp + 2, 0);
        put_be16(icmp + 2, checksum(icmp, total - ihl));
        put_be16(p + 10, 0);
        put_be16(p + 10, checksum(p, ihl));
        n = SOLO5_NET_HLEN + total;
        i->echoes++;
        if (n > i->largest_echo)
            i->largest_echo = n;
        break;
    }
    default:
        return 0;
    }
    memcpy(f, f + 6, 6);
    memcpy(f + 6, i->info.mac_address, 6);
    return n;
}

/*
 * Serves until done(ifaces) says so. Returns 0 on an I/O error.
 */
static inline int serve(struct iface *ifs, size_t nifs, int (*done)(const struct iface *, size_t))
{
    while (!done(ifs, nifs)) {
        solo5_handle_set_t ready = 0;
        solo5_yield(solo5_clock_monotonic() + 1000000000ULL, &ready);
        for (size_t k = 0; k < nifs; k++) {
            struct iface *i = &ifs[k];
            if (!(ready & (1ULL << i->h)))
                continue;
            for (;;) {
                size_t n = 0;
                solo5_result_t r = solo5_net_read(i->h, frame,
                        i->info.mtu + SOLO5_NET_HLEN, &n);
                if (r == SOLO5_R_AGAIN)
                    break;
                if (r != SOLO5_R_OK) {
                    printf("[%s] read error %d\n", i->name, (int)r);
                    return 0;
                }
                size_t reply = answer(i, frame, n);
                if (reply && solo5_net_write(i->h, frame, reply) != SOLO5_R_OK) {
                    printf("[%s] write error\n", i->name);
                    return 0;
                }
            }
        }
    }
    return 1;
}

#endif
