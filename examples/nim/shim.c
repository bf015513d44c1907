/*
 * The platform shim of the Nim unikernel: the few C library functions
 * Nim's generated code calls with --os:any --mm:arc -d:useMalloc (memory,
 * strings, malloc and friends, stdout/stderr on the Solo5 console, exit),
 * and solo5_app_main, which sets up the heap and runs the Nim program.
 *
 * The allocator: size classes of powers of two (16 bytes to 1 MiB) with
 * one free list each, carved from the heap that solo5_app_main gets;
 * larger blocks are rounded to pages and kept on a list of their own.
 * Enough for ARC, which frees as it goes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <errno.h>

#include "solo5.h"
#include "shim.h"

int errno;

void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

void *memchr(const void *s, int c, size_t n)
{
    const unsigned char *p = s;
    for (; n; n--, p++)
        if (*p == (unsigned char)c)
            return (void *)(uintptr_t)p;
    return NULL;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

char *strerror(int errnum)
{
    (void)errnum;
    return (char *)(uintptr_t)"error";
}

/* stdio: everything goes to the console. */
struct nim_solo5_file {
    int unused;
};
static struct nim_solo5_file console;
FILE *stdout = &console, *stderr = &console, *stdin = NULL;

size_t fwrite(const void *buf, size_t size, size_t n, FILE *f)
{
    (void)f;
    solo5_console_write(buf, size * n);
    return n;
}

int fflush(FILE *f)
{
    (void)f;
    return 0;
}

int fputs(const char *s, FILE *f)
{
    fwrite(s, 1, strlen(s), f);
    return 0;
}

int fputc(int c, FILE *f)
{
    char ch = (char)c;
    fwrite(&ch, 1, 1, f);
    return c;
}

int ferror(FILE *f)
{
    (void)f;
    return 0;
}

void clearerr(FILE *f)
{
    (void)f;
}

sighandler_t signal(int sig, sighandler_t handler)
{
    (void)sig;
    (void)handler;
    return SIG_DFL;
}

int raise(int sig)
{
    (void)sig;
    solo5_abort();
}

void exit(int status)
{
    solo5_exit(status);
}

void abort(void)
{
    solo5_abort();
}

/* The allocator. */
#define MIN_SHIFT 4
#define MAX_SHIFT 20
#define PAGE 4096UL

struct block {
    size_t size;            /* usable bytes after the header */
    struct block *next;     /* free list link while free */
};
#define HEADER 16

static uintptr_t heap_cur, heap_end;
static struct block *free_lists[MAX_SHIFT + 1];
static struct block *free_large;
size_t nim_solo5_heap_used;

static void *carve(size_t usable)
{
    uintptr_t start = (heap_cur + 15) & ~(uintptr_t)15;
    if (start + HEADER + usable > heap_end || start + HEADER + usable < start)
        return NULL;
    heap_cur = start + HEADER + usable;
    nim_solo5_heap_used = heap_cur;
    struct block *b = (struct block *)start;
    b->size = usable;
    return (char *)b + HEADER;
}

static unsigned class_of(size_t n)
{
    unsigned s = MIN_SHIFT;
    while (((size_t)1 << s) < n)
        s++;
    return s;
}

void *malloc(size_t n)
{
    if (n == 0)
        n = 1;
    if (n <= ((size_t)1 << MAX_SHIFT)) {
        unsigned c = class_of(n);
        struct block *b = free_lists[c];
        if (b) {
            free_lists[c] = b->next;
            return (char *)b + HEADER;
        }
        void *p = carve((size_t)1 << c);
        if (!p)
            errno = ENOMEM;
        return p;
    }
    size_t want = (n + PAGE - 1) & ~(PAGE - 1);
    for (struct block **pp = &free_large; *pp; pp = &(*pp)->next) {
        if ((*pp)->size >= want) {
            struct block *b = *pp;
            *pp = b->next;
            return (char *)b + HEADER;
        }
    }
    void *p = carve(want);
    if (!p)
        errno = ENOMEM;
    return p;
}

void free(void *p)
{
    if (!p)
        return;
    struct block *b = (struct block *)((char *)p - HEADER);
    if (b->size <= ((size_t)1 << MAX_SHIFT)) {
        unsigned c = class_of(b->size);
        b->next = free_lists[c];
        free_lists[c] = b;
    } else {
        b->next = free_large;
        free_large = b;
    }
}

void *calloc(size_t n, size_t size)
{
    if (size && n > (size_t)-1 / size)
        return NULL;
    void *p = malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    struct block *b = (struct block *)((char *)p - HEADER);
    if (n <= b->size)
        return p;
    void *q = malloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, b->size);
    free(p);
    return q;
}

/* The Nim side: NimMain runs the module's top level, which calls main(). */
extern void NimMain(void);
const char *nim_solo5_cmdline;
int nim_solo5_status;

int solo5_app_main(const struct solo5_start_info *si)
{
    nim_solo5_cmdline = si->cmdline;
    heap_cur = si->heap_start;
    /* Leave the top 1 MiB (or half, when less) to the stack, as
     * ocaml-solo5 does: the region ends at the top of the stack. */
    size_t reserve = si->heap_size >= 0x200000 ? 0x100000 : si->heap_size / 2;
    heap_end = si->heap_start + si->heap_size - reserve;
    NimMain();
    return nim_solo5_status;
}
