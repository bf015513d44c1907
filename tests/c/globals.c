/*
 * globals: initialised data, rodata and bss are where the program put them,
 * and the heap of the start info is the program's.
 */
#include "common.h"

static int data_value = 42;
static const char rodata_value[] = "read only";
static char bss_value[4096];
volatile uint64_t data_big[4] = { 1, 2, 3, 4 };

int solo5_app_main(const struct solo5_start_info *si)
{
    banner("globals");
    CHECK(data_value == 42, ".data has the wrong value");
    data_value++;
    CHECK(data_value == 43, ".data is not writable");
    CHECK(streq(rodata_value, "read only"), ".rodata has the wrong value");
    for (size_t i = 0; i < sizeof bss_value; i++)
        CHECK(bss_value[i] == 0, ".bss is not zero");
    bss_value[100] = 1;
    CHECK(bss_value[100] == 1, ".bss is not writable");
    CHECK(data_big[0] + data_big[1] + data_big[2] + data_big[3] == 10,
            "an initialised array has the wrong values");
    printf("Heap: start %p, size %lu\n", (void *)si->heap_start,
            (unsigned long)si->heap_size);
    /* Upstream's layout: one page-aligned region that the application owns,
     * up to the end of memory. Its first and last bytes are writable. */
    CHECK((si->heap_start & 0xfff) == 0, "heap start not page aligned");
    CHECK(si->heap_size >= 0x1000, "no heap");
    volatile uint8_t *first = (volatile uint8_t *)si->heap_start;
    volatile uint8_t *last = first + si->heap_size - 1;
    *first = 0xa5;
    *last = 0x5a;
    CHECK(*first == 0xa5 && *last == 0x5a, "the heap is not writable");
    return success();
}
