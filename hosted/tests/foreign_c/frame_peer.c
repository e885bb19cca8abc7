/*
 * A foreign ipckit peer of byte channels (SPSC frame rings, kind 4),
 * written from docs/LAYOUT.md alone.
 *
 *   frame_peer RX_CHANNEL TX_CHANNEL COUNT
 *
 * Opens two existing byte channels by name, takes the consumer role of
 * RX_CHANNEL and the producer role of TX_CHANNEL (recorded in the liveness
 * blocks first), and COUNT times receives a frame and sends it back with
 * every byte complemented, as records of LAYOUT.md section 6 (padding at
 * the end of the data area included), blocking through the event count of
 * section 4. Then it gives both roles back and closes its slots. Exit
 * status 0 on success; 1 with a message for any value the layout refuses.
 */
#include "channel.h"

#define PAD 0x80000000u
#define BUSY 0x40000000u
#define LEN_MASK (BUSY - 1)
#define HEADER_LEN 8u

static uint32_t record_len(uint32_t n) { return (n + HEADER_LEN + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1); }

static uint8_t *data_at(const struct end *e, uint32_t offset) { return e->base + DATA_OFFSET + offset; }

static au32 *header_at(const struct end *e, uint32_t offset) { return (au32 *)data_at(e, offset); }

/* A record header at data offset `offset` (section 6): `len` word and claimant. */
static void store_header(const struct end *e, uint32_t offset, uint32_t len_word) {
    atomic_store_explicit(header_at(e, offset + 4), 0, memory_order_relaxed);
    atomic_store_explicit(header_at(e, offset), len_word, memory_order_relaxed);
}

/* The frame record at `offset` with `readable` published bytes from it:
 * its payload length, validated as section 6 says. */
static uint32_t frame_at(const struct end *e, uint32_t offset, uint32_t readable) {
    uint32_t w = atomic_load_explicit(header_at(e, offset), memory_order_relaxed);
    uint32_t bits = w & LEN_MASK;
    if (w & (PAD | BUSY))
        die("%s: record at %u: flags %#x where a frame must be", e->name, offset, w);
    if (bits < HEADER_LEN)
        die("%s: record at %u shorter than its header", e->name, offset);
    uint32_t n = bits - HEADER_LEN;
    if (n > e->cap / 2 - HEADER_LEN)
        die("%s: frame of %u bytes exceeds the largest frame", e->name, n);
    uint32_t total = record_len(n);
    if (total > e->cap - offset || total > readable)
        die("%s: record at %u runs past the end or the published range", e->name, offset);
    return n;
}

/* Receives one frame into `buf` (room for the largest frame); its length,
 * or -1 when the ring is empty. */
static long try_recv(struct end *e, uint8_t *buf) {
    uint32_t available = e->cached - e->pos;
    if (available == 0) {
        uint32_t tail = atomic_load_explicit(word(e, TAIL), memory_order_acquire);
        available = tail - e->pos;
        if (available > e->cap || available % RECORD_ALIGN != 0)
            die("%s: corrupted tail %u (head %u)", e->name, tail, e->pos);
        e->cached = tail;
        if (available == 0)
            return -1;
    }
    uint32_t offset = e->pos & (e->cap - 1);
    uint32_t skipped = 0;
    uint32_t w = atomic_load_explicit(header_at(e, offset), memory_order_relaxed);
    if (w & PAD) {
        uint32_t len = w & LEN_MASK;
        if ((w & BUSY) || len != e->cap - offset || offset == 0 || len > available ||
            available - len < HEADER_LEN)
            die("%s: bad padding record %#x at %u", e->name, w, offset);
        skipped = len;
        offset = 0;
        available -= len;
    }
    uint32_t n = frame_at(e, offset, available);
    memcpy(buf, data_at(e, offset + HEADER_LEN), n);
    e->pos += skipped + record_len(n);
    publish(e, HEAD, PRODUCER_WAITING);
    return n;
}

/* Sends `n` bytes as one frame; 0 when the ring has no room now. */
static int try_send(struct end *e, const uint8_t *buf, uint32_t n) {
    if (n > e->cap / 2 - HEADER_LEN)
        die("%s: frame of %u bytes too large", e->name, n);
    uint32_t total = record_len(n);
    uint32_t at = e->pos & (e->cap - 1);
    uint32_t until_end = e->cap - at;
    uint32_t pad = total > until_end ? until_end : 0;
    uint32_t offset = pad ? 0 : at;
    if (e->cap - (e->pos - e->cached) < pad + total) {
        uint32_t head = atomic_load_explicit(word(e, HEAD), memory_order_acquire);
        if (e->pos - head > e->cap || head % RECORD_ALIGN != 0)
            die("%s: corrupted head %u (tail %u)", e->name, head, e->pos);
        e->cached = head;
        if (e->cap - (e->pos - head) < pad + total)
            return 0;
    }
    memcpy(data_at(e, offset + HEADER_LEN), buf, n);
    if (pad)
        store_header(e, at, PAD | pad);
    store_header(e, offset, n + HEADER_LEN);
    e->pos += pad + total;
    publish(e, TAIL, CONSUMER_WAITING);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4)
        die("usage: frame_peer RX_CHANNEL TX_CHANNEL COUNT");
    struct end rx = {.name = argv[1], .producer = 0, .kind = 4};
    struct end tx = {.name = argv[2], .producer = 1, .kind = 4};
    unsigned long count = strtoul(argv[3], NULL, 10);
    struct end *ends[2] = {&rx, &tx};
    for (int i = 0; i < 2; i++) {
        map_object(ends[i]);
        attach_ring(ends[i]);
        claim(ends[i]);
    }
    uint8_t *buf = malloc(rx.cap / 2);
    if (!buf)
        die("out of memory");
    for (unsigned long i = 0; i < count; i++) {
        long n = -1;
        BLOCKING((n = try_recv(&rx, buf)) >= 0, (&rx), TAIL, CONSUMER_WAITING)
        for (long j = 0; j < n; j++)
            buf[j] = (uint8_t)~buf[j];
        BLOCKING(try_send(&tx, buf, (uint32_t)n), (&tx), HEAD, PRODUCER_WAITING)
    }
    free(buf);
    close_end(&rx);
    close_end(&tx);
    return 0;
}
