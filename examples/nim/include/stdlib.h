/* The <stdlib.h> that Nim's generated C needs, implemented in ../shim.c. */
#ifndef NIM_SOLO5_STDLIB_H
#define NIM_SOLO5_STDLIB_H
#include <stddef.h>
void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);
void exit(int status) __attribute__((noreturn));
void abort(void) __attribute__((noreturn));
#endif
