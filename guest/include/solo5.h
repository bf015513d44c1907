/*
 * solo5.h: the Solo5 public API, as implemented by the solo5-guest SDK.
 *
 * Written from the interface description in docs/abis.md, "The Solo5 API
 * (solo5.h)": the API and types of upstream Solo5's solo5.h (v0.12).
 * Everything here is implemented in Rust (guest/src/capi.rs) with the C
 * calling convention. Compile C against it with a freestanding compiler
 * (-ffreestanding): it needs only <stddef.h>, <stdint.h> and <stdbool.h>.
 * The C toolchain (docs/toolchain.md) installs it as include/solo5/solo5.h;
 * it compiles warning-free under upstream's test CFLAGS (-Wall -Wextra
 * -Wshadow -Wcast-qual -Wwrite-strings ... -Werror).
 */

#ifndef SOLO5_H_INCLUDED
#define SOLO5_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Results of calls that can fail.
 */
typedef enum {
    /* The operation completed successfully. */
    SOLO5_R_OK = 0,
    /* The operation cannot be completed now (net read: no frame queued). */
    SOLO5_R_AGAIN = 1,
    /* Invalid argument: unknown handle, wrong size, misaligned offset. */
    SOLO5_R_EINVAL = 2,
    /* The operation failed for an unspecified reason (host I/O error). */
    SOLO5_R_EUNSPEC = 3
} solo5_result_t;

/*
 * A device handle: the device's index in the application manifest.
 */
typedef uint64_t solo5_handle_t;

/*
 * A set of handles, one bit per manifest index (1ULL << handle).
 */
typedef uint64_t solo5_handle_set_t;

/*
 * Time in nanoseconds.
 */
typedef uint64_t solo5_time_t;

/*
 * Block device offsets and sizes, in bytes.
 */
typedef uint64_t solo5_off_t;

/*
 * Start of day information, passed to solo5_app_main(). Read-only.
 *
 * cmdline: the command line given to the tender after the unikernel,
 *          without the leading --solo5:... options the bindings consumed.
 * [heap_start, heap_start + heap_size): memory the application owns (read,
 *          write, never executable), from the end of the image.
 *          Programs linked by the C toolchain get upstream's layout: the
 *          region runs to the end of memory and the initial stack grows
 *          down from its top, a 64 KiB guard range below the stack left
 *          inaccessible (docs/toolchain.md). Programs linked by cargo
 *          against the SDK get the region up to that guard only (see
 *          docs/native-abi.md, "Stack and heap"): the stack cannot grow
 *          into the heap.
 */
struct solo5_start_info {
    const char *cmdline;
    uintptr_t heap_start;
    size_t heap_size;
};

/*
 * The application's entry point. Returning from it is equivalent to calling
 * solo5_exit() with the returned value.
 */
int solo5_app_main(const struct solo5_start_info *info);

/*
 * Exit statuses. Values of 255 and above are reserved for Solo5.
 */
#define SOLO5_EXIT_SUCCESS 0
#define SOLO5_EXIT_FAILURE 1
#define SOLO5_EXIT_ABORT 255

/*
 * Ends the application with (status).
 */
void solo5_exit(int status) __attribute__((noreturn));

/*
 * Ends the application abnormally, with status SOLO5_EXIT_ABORT.
 */
void solo5_abort(void) __attribute__((noreturn));

/*
 * Monotonic time since an unspecified point in the past, in nanoseconds.
 */
solo5_time_t solo5_clock_monotonic(void);

/*
 * Wall clock time (UTC) since the UNIX epoch, in nanoseconds.
 */
solo5_time_t solo5_clock_wall(void);

/*
 * Suspends the application until monotonic time reaches (deadline) or a
 * network device has a frame to read. If (ready_set) is not NULL, it
 * receives the set of handles for which solo5_net_read() will succeed
 * (0 when the deadline passed).
 */
void solo5_yield(solo5_time_t deadline, solo5_handle_set_t *ready_set);

/*
 * Writes (size) bytes from (buf) to the console. Best effort: never fails,
 * may lose data.
 */
void solo5_console_write(const char *buf, size_t size);

/*
 * Network devices.
 */
#define SOLO5_NET_ALEN 6  /* Ethernet address length */
#define SOLO5_NET_HLEN 14 /* Ethernet header length */

struct solo5_net_info {
    uint8_t mac_address[SOLO5_NET_ALEN];
    size_t mtu; /* Not including the Ethernet header */
};

/*
 * Acquires the network device declared in the manifest as (name); on
 * success stores its handle in (*handle) and its properties in (*info).
 * SOLO5_R_EINVAL if there is no such attached network device.
 */
solo5_result_t solo5_net_acquire(const char *name, solo5_handle_t *handle,
        struct solo5_net_info *info);

/*
 * Sends one frame of (size) bytes, Ethernet header included (at most
 * mtu + SOLO5_NET_HLEN bytes), without blocking.
 */
solo5_result_t solo5_net_write(solo5_handle_t handle, const uint8_t *buf,
        size_t size);

/*
 * Receives one frame into (buf) without blocking; (size) should be at least
 * mtu + SOLO5_NET_HLEN. Stores the frame's length in (*read_size).
 * SOLO5_R_AGAIN if no frame is queued.
 */
solo5_result_t solo5_net_read(solo5_handle_t handle, uint8_t *buf,
        size_t size, size_t *read_size);

/*
 * Block devices.
 */
struct solo5_block_info {
    solo5_off_t capacity;   /* Capacity of the device, in bytes */
    solo5_off_t block_size; /* Unit of I/O, in bytes */
};

/*
 * Acquires the block device declared in the manifest as (name); on success
 * stores its handle in (*handle) and its properties in (*info).
 * SOLO5_R_EINVAL if there is no such attached block device.
 */
solo5_result_t solo5_block_acquire(const char *name, solo5_handle_t *handle,
        struct solo5_block_info *info);

/*
 * Writes exactly one block, (size) == block_size bytes from (buf), at byte
 * (offset), a multiple of block_size below the capacity. Otherwise
 * SOLO5_R_EINVAL.
 */
solo5_result_t solo5_block_write(solo5_handle_t handle, solo5_off_t offset,
        const uint8_t *buf, size_t size);

/*
 * Reads exactly one block into (buf); same rules as solo5_block_write().
 */
solo5_result_t solo5_block_read(solo5_handle_t handle, solo5_off_t offset,
        uint8_t *buf, size_t size);

/*
 * Sets the TLS base register (%fs on x86_64) to (base).
 */
solo5_result_t solo5_set_tls_base(uintptr_t base);

/*
 * Exported by upstream's bindings objects too: helpers to build a TLS block from
 * the executable's TLS template (.tdata/.tbss, __thread variables).
 *
 * solo5_tls_size():      bytes a TLS block needs, thread control block
 *                        included.
 * solo5_tls_init(tls):   copies the template into the block at (tls),
 *                        zeroes the rest and sets up the thread control
 *                        block. SOLO5_R_EINVAL if (tls) is NULL or not
 *                        aligned enough.
 * solo5_tls_tp_offset(tls): the value to give solo5_set_tls_base() for the
 *                        block at (tls).
 */
size_t solo5_tls_size(void);
solo5_result_t solo5_tls_init(uintptr_t tls);
uintptr_t solo5_tls_tp_offset(uintptr_t tls);

#ifdef __cplusplus
}
#endif

#endif /* SOLO5_H_INCLUDED */
