/* hello: prints its command line, then SUCCESS. */
#include "common.h"

int solo5_app_main(const struct solo5_start_info *si)
{
    banner("hello");
    puts("Hello, World\n");
    printf("Command line is: '%s'\n", si->cmdline);
    return success();
}
