/* The <stdio.h> that Nim's generated C needs: stdout and stderr are the
 * Solo5 console (../shim.c). */
#ifndef NIM_SOLO5_STDIO_H
#define NIM_SOLO5_STDIO_H
#include <stddef.h>
typedef struct nim_solo5_file FILE;
extern FILE *stdout, *stderr, *stdin;
size_t fwrite(const void *buf, size_t size, size_t n, FILE *f);
int fflush(FILE *f);
int fputs(const char *s, FILE *f);
int fputc(int c, FILE *f);
int ferror(FILE *f);
void clearerr(FILE *f);
#define EOF (-1)
#endif
