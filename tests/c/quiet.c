/* quiet: run with --solo5:quiet, the bindings print nothing. */
#include "common.h"

int solo5_app_main(const struct solo5_start_info *si)
{
    banner("quiet");
    CHECK(si->cmdline[0] == '\0', "--solo5:quiet was passed to the application");
    return success();
}
