/* <errno.h> for Nim's generated C (../shim.c). */
#ifndef NIM_SOLO5_ERRNO_H
#define NIM_SOLO5_ERRNO_H
extern int errno;
#define EINTR 4
#define ENOMEM 12
#define EINVAL 22
#endif
