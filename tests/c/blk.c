/*
 * blk: writes a pattern to blocks of 'storage' and reads it back; every
 * misuse upstream documents fails with SOLO5_R_EINVAL (but for requests
 * of several whole blocks, which these bindings serve).
 */
#include "common.h"

static uint8_t wbuf[16384], rbuf[16384];

static void fill(uint8_t *buf, size_t n, uint64_t block)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(block * 7 + i * 13 + 1);
}

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("blk");
    solo5_handle_t h, other;
    struct solo5_block_info bi;
    struct solo5_net_info ni;

    CHECK(solo5_block_acquire("nonexistent", &other, &bi) == SOLO5_R_EINVAL,
            "acquiring an undeclared device did not fail");
    CHECK(solo5_net_acquire("storage", &other, &ni) == SOLO5_R_EINVAL,
            "acquiring a block device as a network device did not fail");
    CHECK(solo5_block_acquire("storage", &h, &bi) == SOLO5_R_OK,
            "could not acquire 'storage'");
    printf("storage: capacity %lu bytes, block size %lu\n",
            (unsigned long)bi.capacity, (unsigned long)bi.block_size);
    CHECK(bi.block_size >= 512 && bi.block_size <= sizeof wbuf / 2,
            "unexpected block size");
    CHECK(bi.capacity % bi.block_size == 0 && bi.capacity >= 16 * bi.block_size,
            "unexpected capacity");

    size_t bs = (size_t)bi.block_size;
    uint64_t blocks = bi.capacity / bs;
    /* The first 16 blocks and the last one. */
    for (uint64_t b = 0; b < blocks; b = (b == 15) ? blocks - 1 : b + 1) {
        fill(wbuf, bs, b);
        CHECK(solo5_block_write(h, b * bs, wbuf, bs) == SOLO5_R_OK, "write failed");
    }
    for (uint64_t b = 0; b < blocks; b = (b == 15) ? blocks - 1 : b + 1) {
        memset(rbuf, 0, bs);
        CHECK(solo5_block_read(h, b * bs, rbuf, bs) == SOLO5_R_OK, "read failed");
        fill(wbuf, bs, b);
        CHECK(memcmp(wbuf, rbuf, bs) == 0, "read back other bytes than written");
    }

    CHECK(solo5_block_write(h, 1, wbuf, bs) == SOLO5_R_EINVAL,
            "a misaligned offset was accepted");
    CHECK(solo5_block_read(h, bi.capacity, rbuf, bs) == SOLO5_R_EINVAL,
            "an offset at the capacity was accepted");
    CHECK(solo5_block_write(h, 0, wbuf, bs - 1) == SOLO5_R_EINVAL,
            "a short block was accepted");
    /*
     * These bindings take whole-block requests (up to 1 MiB) where
     * upstream's take exactly one block: two blocks read blocks 0 and 1;
     * two blocks across the end of the device are refused.
     */
    memset(rbuf, 0, 2 * bs);
    CHECK(solo5_block_read(h, 0, rbuf, bs * 2) == SOLO5_R_OK,
            "a read of two whole blocks failed");
    fill(wbuf, bs, 0);
    CHECK(memcmp(wbuf, rbuf, bs) == 0, "two-block read: block 0 differs");
    fill(wbuf, bs, 1);
    CHECK(memcmp(wbuf, rbuf + bs, bs) == 0, "two-block read: block 1 differs");
    CHECK(solo5_block_read(h, bi.capacity - bs, rbuf, bs * 2) == SOLO5_R_EINVAL,
            "two blocks across the end were accepted");
    CHECK(solo5_block_read(h + 1, 0, rbuf, bs) == SOLO5_R_EINVAL,
            "an unknown handle was accepted");
    return success();
}
