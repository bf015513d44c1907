/*
 * test_hello, in C against solo5.h: prints the command line it was given.
 * The Rust side of the `hello` bin only links the SDK and the manifest.
 */
#include "solo5.h"

static size_t length(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return n;
}

static void print(const char *s)
{
    solo5_console_write(s, length(s));
}

int solo5_app_main(const struct solo5_start_info *si)
{
    print("\n**** Solo5 standalone test_hello ****\n\n");
    print("Hello, World\nCommand line is: '");
    solo5_console_write(si->cmdline, length(si->cmdline));
    print("'\n");
    print("SUCCESS\n");
    return SOLO5_EXIT_SUCCESS;
}
