/* hello: prints its command line and the start info, then SUCCESS. */
#include "common.h"

int solo5_app_main(const struct solo5_start_info *si)
{
    banner("hello");
    puts("Hello, World\n");
    printf("Command line is: '%s'\n", si->cmdline);
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
