/*
 * tls: __thread variables (.tdata and .tbss) in two TLS blocks made with
 * solo5_tls_size/init/tp_offset, switched with solo5_set_tls_base.
 */
#include "common.h"

static __thread volatile uint64_t tdata_v = 0x1234567890abcdefULL;
static __thread volatile uint64_t tbss_v;

static uint8_t block1[4096] __attribute__((aligned(4096)));
static uint8_t block2[4096] __attribute__((aligned(4096)));

static solo5_result_t use(uint8_t *block)
{
    return solo5_set_tls_base(solo5_tls_tp_offset((uintptr_t)block));
}

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("tls");
    printf("TLS block size: %lu\n", (unsigned long)solo5_tls_size());
    CHECK(solo5_tls_size() <= sizeof block1, "TLS block too large");
    CHECK(solo5_tls_init((uintptr_t)block1) == SOLO5_R_OK, "tls_init(block1) failed");
    CHECK(solo5_tls_init((uintptr_t)block2) == SOLO5_R_OK, "tls_init(block2) failed");

    CHECK(use(block1) == SOLO5_R_OK, "set_tls_base(block1) failed");
    CHECK(tdata_v == 0x1234567890abcdefULL, ".tdata not initialised in block1");
    CHECK(tbss_v == 0, ".tbss not zero in block1");
    tdata_v = 1;
    tbss_v = 2;

    CHECK(use(block2) == SOLO5_R_OK, "set_tls_base(block2) failed");
    CHECK(tdata_v == 0x1234567890abcdefULL, ".tdata not initialised in block2");
    CHECK(tbss_v == 0, ".tbss not zero in block2");
    tdata_v = 3;
    tbss_v = 4;

    CHECK(use(block1) == SOLO5_R_OK, "set_tls_base(block1) failed");
    CHECK(tdata_v == 1 && tbss_v == 2, "block1 lost its values");
    CHECK(use(block2) == SOLO5_R_OK, "set_tls_base(block2) failed");
    CHECK(tdata_v == 3 && tbss_v == 4, "block2 lost its values");
    return success();
}
