/* mft_maxdevices: 63 block devices, the most a manifest holds, all usable. */
#include "common.h"

static uint8_t buf[4096];

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("mft_maxdevices");
    char name[] = "storageNN";
    solo5_handle_set_t seen = 0;
    for (unsigned i = 0; i < 63; i++) {
        size_t n = 7;
        if (i >= 10)
            name[n++] = (char)('0' + i / 10);
        name[n++] = (char)('0' + i % 10);
        name[n] = '\0';
        solo5_handle_t h;
        struct solo5_block_info bi;
        if (solo5_block_acquire(name, &h, &bi) != SOLO5_R_OK) {
            printf("could not acquire '%s'\n", name);
            return failure("acquire");
        }
        CHECK(h < 64 && !(seen & (1ULL << h)), "handles are not distinct");
        seen |= 1ULL << h;
        CHECK(bi.block_size <= sizeof buf, "block too large");
        CHECK(solo5_block_read(h, 0, buf, (size_t)bi.block_size) == SOLO5_R_OK,
                "read failed");
    }
    printf("acquired 63 block devices\n");
    return success();
}
