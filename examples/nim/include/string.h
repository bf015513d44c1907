/* The <string.h> that Nim's generated C needs, implemented in ../shim.c. */
#ifndef NIM_SOLO5_STRING_H
#define NIM_SOLO5_STRING_H
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
char *strerror(int errnum);
#endif
