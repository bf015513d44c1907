/* seccomp: a system call the tender's filter does not allow kills the guest (spt). */
#include "common.h"

int solo5_app_main(const struct solo5_start_info *si)
{
    (void)si;
    banner("seccomp");
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(39L) /* getpid */ : "rcx", "r11", "memory");
    printf("getpid() returned %d\n", (int)ret);
    return failure("a forbidden system call was allowed");
}
