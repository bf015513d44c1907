/*
 * What the C test programs share: the few libc functions a freestanding
 * program needs (the bindings object keeps its own to itself, as
 * upstream's does), a small printf over solo5_console_write, and the
 * SUCCESS / FAILURE convention of upstream's test suite.
 *
 * Written for this project from upstream Solo5's documented behaviour;
 * included by exactly one source file of each program.
 */
#ifndef TESTS_C_COMMON_H
#define TESTS_C_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "solo5.h"

/* gcc may emit calls to these even in freestanding code. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

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

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static inline int streq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static inline void puts(const char *s)
{
    solo5_console_write(s, strlen(s));
}

/* Output buffered per call of printf, written with one console write. */
struct out {
    char buf[512];
    size_t len;
};

static inline void out_c(struct out *o, char c)
{
    if (o->len < sizeof o->buf)
        o->buf[o->len++] = c;
}

static inline void out_u(struct out *o, uint64_t v, unsigned base, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (width-- > n)
        out_c(o, '0');
    while (n)
        out_c(o, tmp[--n]);
}

/*
 * %s %c %d %u %x %p %% with the l, ll and z length modifiers and a zero
 * padded width (%02x).
 */
static inline void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void printf(const char *fmt, ...)
{
    struct out o;
    va_list ap;
    o.len = 0;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            out_c(&o, *fmt);
            continue;
        }
        fmt++;
        int width = 0;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        int lng = 0;
        while (*fmt == 'l' || *fmt == 'z') {
            lng++;
            fmt++;
        }
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            while (*s)
                out_c(&o, *s++);
            break;
        }
        case 'c':
            out_c(&o, (char)va_arg(ap, int));
            break;
        case 'd': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            if (v < 0) {
                out_c(&o, '-');
                out_u(&o, (uint64_t)0 - (uint64_t)v, 10, width);
            } else {
                out_u(&o, (uint64_t)v, 10, width);
            }
            break;
        }
        case 'u':
            out_u(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, width);
            break;
        case 'x':
            out_u(&o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, width);
            break;
        case 'p':
            out_c(&o, '0');
            out_c(&o, 'x');
            out_u(&o, (uintptr_t)va_arg(ap, void *), 16, width);
            break;
        case '%':
            out_c(&o, '%');
            break;
        default:
            out_c(&o, '?');
            break;
        }
    }
    va_end(ap);
    solo5_console_write(o.buf, o.len);
}

static inline void banner(const char *name)
{
    printf("\n**** Solo5 C test: %s ****\n\n", name);
}

static inline int success(void)
{
    puts("SUCCESS\n");
    return SOLO5_EXIT_SUCCESS;
}

static inline int failure(const char *why)
{
    printf("FAILURE: %s\n", why);
    return SOLO5_EXIT_FAILURE;
}

#define CHECK(cond, why)                                                     \
    do {                                                                     \
        if (!(cond))                                                         \
            return failure(why);                                             \
    } while (0)

#endif
