/* What ../shim.c shares with the Nim program (app.nim). */
#ifndef NIM_SOLO5_SHIM_H
#define NIM_SOLO5_SHIM_H
#include <stddef.h>
extern const char *nim_solo5_cmdline; /* the application's command line */
extern int nim_solo5_status;          /* solo5_app_main's return value */
extern size_t nim_solo5_heap_used;    /* end of what the allocator carved */
#endif
