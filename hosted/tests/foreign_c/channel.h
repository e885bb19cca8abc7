/*
 * What both foreign peers share, written from docs/LAYOUT.md alone: the
 * header checks (section 2), the role claim (section 3) recorded in the
 * liveness block (section 12), and the waiting protocol (section 4) of the
 * SPSC-family rings (kinds 1 and 4: same control block).
 */
#ifndef IPCKIT_FOREIGN_CHANNEL_H
#define IPCKIT_FOREIGN_CHANNEL_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef _Atomic uint32_t au32;
typedef _Atomic uint64_t au64;

/* Section 2: the region header. */
#define H_MAGIC 0
#define H_VERSION 4
#define H_KIND 8
#define H_ENDIAN 12
#define H_STATE 16
#define H_ELEM_SIZE 20
#define H_ELEM_ALIGN 24
#define H_CAPACITY 28
#define H_DATA_OFFSET 32
#define H_FLAGS 36
#define MAGIC 0x4B435049u
#define LAYOUT_VERSION 1u
#define ENDIAN_MARKER 0x01020304u
#define STATE_READY 2u
#define FLAG_WAKES 1u
/* Sections 5 and 7: the control block of kinds 1 and 4. */
#define TAIL 128
#define PRODUCER_CLAIM 132
#define CONSUMER_WAITING 136
#define HEAD 256
#define CONSUMER_CLAIM 260
#define PRODUCER_WAITING 264
#define DATA_OFFSET 384u
#define MAX_CAPACITY (1u << 31)
#define RECORD_ALIGN 8u
/* Section 12: the channel object and its liveness block. */
#define LIVENESS_LEN 4096u
#define LIVENESS_MAGIC 0x4C435049u
#define LIVENESS_VERSION 2u
#define PRODUCER_SLOT 64
#define CONSUMER_SLOT 1088
#define SLOT_FREE 0u
#define SLOT_CLAIMING 1u
#define SLOT_ACTIVE 2u
#define SLOT_CLOSED 3u
#define PID_LIMIT (1u << 22)

/* Spins before a blocked call sleeps (any number works). */
#define SPINS 2000

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("spsc_peer: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* One end of one channel. */
struct end {
    const char *name;
    uint8_t *base;
    size_t len;
    int producer;   /* 1: producer role, 0: consumer role */
    uint32_t kind;  /* expected kind: 1 (u64 slots) or 4 (frames) */
    uint32_t cap;   /* validated capacity (slots) */
    uint32_t pos;   /* our position: tail (producer) or head (consumer) */
    uint32_t cached; /* the peer's position as last validated */
    size_t slot;    /* offset of our liveness slot from the object base */
    uint32_t active; /* our slot's active state word */
};

static au32 *word(const struct end *e, size_t off) { return (au32 *)(e->base + off); }

static long futex(au32 *w, int op, uint32_t val) {
    /* Shared futex: no FUTEX_PRIVATE_FLAG (section 4). */
    return syscall(SYS_futex, (uint32_t *)w, op, val, NULL, NULL, 0);
}

static void relax(int i) {
    if (i % 64 == 63)
        sched_yield();
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Field 22 of /proc/self/stat: the start time in clock ticks since boot. */
static uint64_t start_time(void) {
    char buf[4096];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        die("/proc/self/stat: %s", strerror(errno));
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        die("/proc/self/stat: no ')'");
    p++; /* the fields after the last ')' start with field 3 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            die("/proc/self/stat: too few fields");
    }
    return strtoull(p + 1, NULL, 10);
}

/* Maps the channel object NAME, waiting (2 s) for its creator to size it. */
static void map_object(struct end *e) {
    char path[300];
    if (snprintf(path, sizeof path, "/%s", e->name) >= (int)sizeof path)
        die("%s: name too long", e->name);
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        die("shm_open %s: %s", path, strerror(errno));
    struct stat st;
    for (int i = 0;; i++) {
        if (fstat(fd, &st) != 0)
            die("fstat %s: %s", path, strerror(errno));
        if (st.st_size > 0 || i == 2000)
            break;
        sleep_ms(1);
    }
    if (st.st_size < (off_t)(DATA_OFFSET + LIVENESS_LEN))
        die("%s: object of %lld bytes is too small", e->name, (long long)st.st_size);
    e->len = (size_t)st.st_size;
    e->base = mmap(NULL, e->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (e->base == MAP_FAILED)
        die("mmap %s: %s", path, strerror(errno));
    close(fd);
}

/* Section 2, "Attaching": each word loaded once, refused in order. */
static void attach_ring(struct end *e) {
    uint32_t state;
    for (int i = 0;; i++) {
        state = atomic_load_explicit(word(e, H_STATE), memory_order_acquire);
        if (state != 0 && state != 1)
            break;
        if (i == 2000)
            die("%s: header not initialised", e->name);
        sleep_ms(1);
    }
    uint32_t endian = atomic_load_explicit(word(e, H_ENDIAN), memory_order_relaxed);
    if (endian == __builtin_bswap32(ENDIAN_MARKER))
        die("%s: foreign byte order", e->name);
    if (endian != ENDIAN_MARKER)
        die("%s: bad magic (endian marker)", e->name);
    if (atomic_load_explicit(word(e, H_MAGIC), memory_order_relaxed) != MAGIC)
        die("%s: bad magic", e->name);
    if (state != STATE_READY)
        die("%s: corrupted header state %u", e->name, state);
    uint32_t version = atomic_load_explicit(word(e, H_VERSION), memory_order_relaxed);
    if (version != LAYOUT_VERSION)
        die("%s: layout version %u, expected %u", e->name, version, LAYOUT_VERSION);
    uint32_t kind = atomic_load_explicit(word(e, H_KIND), memory_order_relaxed);
    uint32_t size = atomic_load_explicit(word(e, H_ELEM_SIZE), memory_order_relaxed);
    uint32_t align = atomic_load_explicit(word(e, H_ELEM_ALIGN), memory_order_relaxed);
    uint32_t cap = atomic_load_explicit(word(e, H_CAPACITY), memory_order_relaxed);
    uint32_t data = atomic_load_explicit(word(e, H_DATA_OFFSET), memory_order_relaxed);
    uint32_t flags = atomic_load_explicit(word(e, H_FLAGS), memory_order_relaxed);
    if (kind != e->kind)
        die("%s: kind %u, expected %u", e->name, kind, e->kind);
    /* Kind 1 of u64 items; kind 4: bytes in 8-aligned records. */
    uint32_t want_size = e->kind == 1 ? sizeof(uint64_t) : 1;
    uint32_t want_align = e->kind == 1 ? _Alignof(uint64_t) : RECORD_ALIGN;
    uint32_t min_cap = e->kind == 1 ? 1 : 16;
    if (size != want_size || align != want_align)
        die("%s: element %u/%u, expected %u/%u", e->name, size, align, want_size, want_align);
    if (cap < min_cap || cap > MAX_CAPACITY || (cap & (cap - 1)) != 0)
        die("%s: corrupted capacity %u", e->name, cap);
    if (data != DATA_OFFSET)
        die("%s: corrupted data offset %u", e->name, data);
    if (flags != 0 && flags != FLAG_WAKES)
        die("%s: corrupted flags %#x", e->name, flags);
    /* Section 12: every channel object's ring wakes. */
    if (flags != FLAG_WAKES)
        die("%s: a channel ring without FLAG_WAKES", e->name);
    uint64_t core_len = DATA_OFFSET + (uint64_t)cap * size;
    uint64_t liveness = (core_len + LIVENESS_LEN - 1) / LIVENESS_LEN * LIVENESS_LEN;
    if (liveness + LIVENESS_LEN > e->len)
        die("%s: object shorter than its liveness block", e->name);
    e->cap = cap;
    uint8_t *block = e->base + liveness;
    if (atomic_load_explicit((au32 *)block, memory_order_acquire) != LIVENESS_MAGIC)
        die("%s: corrupted liveness block magic", e->name);
    if (atomic_load_explicit((au32 *)(block + 4), memory_order_relaxed) != LIVENESS_VERSION)
        die("%s: liveness block version mismatch", e->name);
    if (atomic_load_explicit((au32 *)(block + 8), memory_order_relaxed) != 1)
        die("%s: corrupted liveness block slot count", e->name);
    e->slot = liveness + (e->producer ? PRODUCER_SLOT : CONSUMER_SLOT);
}

/* Section 12, "Taking a slot", then section 3's claim. */
static void claim(struct end *e) {
    uint32_t pid = (uint32_t)getpid();
    if (pid == 0 || pid >= PID_LIMIT)
        die("pid %u does not fit the state word", pid);
    uint64_t start = start_time();
    au32 *state = word(e, e->slot);
    uint32_t seen = atomic_load_explicit(state, memory_order_acquire);
    if ((seen & 3) != SLOT_FREE && (seen & 3) != SLOT_CLOSED)
        die("%s: role taken (slot word %#x)", e->name, seen);
    uint32_t gen = ((seen >> 24) + 1) & 0xff;
    uint32_t claiming = gen << 24 | pid << 2 | SLOT_CLAIMING;
    if (!atomic_compare_exchange_strong_explicit(state, &seen, claiming, memory_order_acquire,
                                                 memory_order_relaxed))
        die("%s: role taken meanwhile", e->name);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(word(e, e->slot + 4), 0, memory_order_relaxed);
    atomic_store_explicit((au64 *)(e->base + e->slot + 8), start, memory_order_relaxed);
    e->active = gen << 24 | pid << 2 | SLOT_ACTIVE;
    atomic_store_explicit(state, e->active, memory_order_release);

    uint32_t free_word = 0;
    if (!atomic_compare_exchange_strong_explicit(word(e, e->producer ? PRODUCER_CLAIM : CONSUMER_CLAIM),
                                                 &free_word, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        die("%s: core role taken", e->name);
    uint32_t tail, head;
    if (e->producer) {
        tail = e->pos = atomic_load_explicit(word(e, TAIL), memory_order_relaxed);
        head = e->cached = atomic_load_explicit(word(e, HEAD), memory_order_acquire);
    } else {
        head = e->pos = atomic_load_explicit(word(e, HEAD), memory_order_relaxed);
        tail = e->cached = atomic_load_explicit(word(e, TAIL), memory_order_acquire);
    }
    uint32_t align = e->kind == 1 ? 1 : RECORD_ALIGN;
    if (tail - head > e->cap || tail % align != 0 || head % align != 0)
        die("%s: corrupted positions %u/%u", e->name, tail, head);
}

/* Gives the role back, then closes the slot (section 12, "Closing"). */
static void close_end(struct end *e) {
    atomic_store_explicit(word(e, e->producer ? PRODUCER_CLAIM : CONSUMER_CLAIM), 0,
                          memory_order_release);
    uint32_t active = e->active;
    if (atomic_compare_exchange_strong_explicit(word(e, e->slot), &active,
                                                (active & ~3u) | SLOT_CLOSED,
                                                memory_order_release, memory_order_relaxed))
        futex(word(e, e->slot), FUTEX_WAKE, INT_MAX); /* a blocked peer watches it */
    munmap(e->base, e->len);
}

/* The waker's half (section 4): store, SeqCst fence, load, wake. */
static void publish(struct end *e, size_t own, size_t peer_waiting) {
    atomic_store_explicit(word(e, own), e->pos, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(word(e, peer_waiting), memory_order_relaxed) != 0)
        futex(word(e, own), FUTEX_WAKE, 1);
}

/* The waiter's half (section 4): spin, announce, fence, read the futex
 * word, re-check, sleep on the value read, withdraw. */
#define BLOCKING(attempt, e, futex_word, own_waiting)                                     \
    for (int i = 0;; i++) {                                                              \
        if (attempt)                                                                     \
            break;                                                                       \
        if (i < SPINS) {                                                                 \
            relax(i);                                                                    \
            continue;                                                                    \
        }                                                                                \
        atomic_store_explicit(word(e, own_waiting), 1, memory_order_relaxed);            \
        atomic_thread_fence(memory_order_seq_cst);                                       \
        uint32_t seen = atomic_load_explicit(word(e, futex_word), memory_order_relaxed); \
        if (attempt) {                                                                   \
            atomic_store_explicit(word(e, own_waiting), 0, memory_order_relaxed);        \
            break;                                                                       \
        }                                                                                \
        if (futex(word(e, futex_word), FUTEX_WAIT, seen) != 0 && errno != EAGAIN &&      \
            errno != EINTR)                                                              \
            die("futex wait: %s", strerror(errno));                                      \
        atomic_store_explicit(word(e, own_waiting), 0, memory_order_relaxed);            \
    }

#endif
