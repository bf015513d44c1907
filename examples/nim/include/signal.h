/* <signal.h> for Nim's generated C: there are no signals in a unikernel;
 * signal() accepts and ignores handlers (../shim.c). */
#ifndef NIM_SOLO5_SIGNAL_H
#define NIM_SOLO5_SIGNAL_H
#define SIGINT 2
#define SIGILL 4
#define SIGABRT 6
#define SIGBUS 7
#define SIGFPE 8
#define SIGSEGV 11
#define SIGPIPE 13
typedef void (*sighandler_t)(int);
#define SIG_DFL ((sighandler_t)0)
#define SIG_IGN ((sighandler_t)1)
#define SIG_ERR ((sighandler_t)-1)
typedef int sig_atomic_t;
sighandler_t signal(int sig, sighandler_t handler);
int raise(int sig);
#endif
