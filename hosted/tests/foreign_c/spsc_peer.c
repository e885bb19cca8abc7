/*
 * A foreign ipckit peer, written from docs/LAYOUT.md alone: C11 atomics and
 * the futex system call, no ipckit code.
 *
 *   spsc_peer RX_CHANNEL TX_CHANNEL COUNT PINGS DELAY_US
 *
 * Opens two existing SPSC channels of u64 items (kind 1) by name: takes the
 * consumer role of RX_CHANNEL and the producer role of TX_CHANNEL, each
 * recorded in the channel's liveness block first (LAYOUT.md section 12).
 * Then, COUNT times, pops an item from RX and pushes its complement to TX;
 * then PINGS more times the same, sleeping DELAY_US before each reply (so
 * that the other side sleeps in its futex and this side must wake it).
 * Blocking on both sides follows the event count of section 4. Finally it
 * gives both roles back and closes its liveness slots. Exit status 0 on
 * success; 1 with a message on stderr for any value the layout refuses.
 */
#include "channel.h"

static uint8_t *slot_at(const struct end *e, uint32_t pos) {
    return e->base + DATA_OFFSET + (size_t)(pos & (e->cap - 1)) * sizeof(uint64_t);
}

static int try_pop(struct end *e, uint64_t *out) {
    if (e->cached == e->pos) {
        uint32_t tail = atomic_load_explicit(word(e, TAIL), memory_order_acquire);
        if (tail - e->pos > e->cap)
            die("%s: corrupted tail %u (head %u)", e->name, tail, e->pos);
        e->cached = tail;
        if (tail == e->pos)
            return 0;
    }
    memcpy(out, slot_at(e, e->pos), sizeof *out);
    e->pos++;
    publish(e, HEAD, PRODUCER_WAITING);
    return 1;
}

static int try_push(struct end *e, uint64_t v) {
    if (e->pos - e->cached == e->cap) {
        uint32_t head = atomic_load_explicit(word(e, HEAD), memory_order_acquire);
        if (e->pos - head > e->cap)
            die("%s: corrupted head %u (tail %u)", e->name, head, e->pos);
        e->cached = head;
        if (e->pos - head == e->cap)
            return 0;
    }
    memcpy(slot_at(e, e->pos), &v, sizeof v);
    e->pos++;
    publish(e, TAIL, CONSUMER_WAITING);
    return 1;
}

static uint64_t pop(struct end *e) {
    uint64_t v = 0;
    BLOCKING(try_pop(e, &v), e, TAIL, CONSUMER_WAITING)
    return v;
}

static void push(struct end *e, uint64_t v) {
    BLOCKING(try_push(e, v), e, HEAD, PRODUCER_WAITING)
}

int main(int argc, char **argv) {
    if (argc != 6)
        die("usage: spsc_peer RX_CHANNEL TX_CHANNEL COUNT PINGS DELAY_US");
    struct end rx = {.name = argv[1], .producer = 0, .kind = 1};
    struct end tx = {.name = argv[2], .producer = 1, .kind = 1};
    unsigned long count = strtoul(argv[3], NULL, 10);
    unsigned long pings = strtoul(argv[4], NULL, 10);
    long delay_us = strtol(argv[5], NULL, 10);
    struct end *ends[2] = {&rx, &tx};
    for (int i = 0; i < 2; i++) {
        map_object(ends[i]);
        attach_ring(ends[i]);
        claim(ends[i]);
    }
    for (unsigned long i = 0; i < count + pings; i++) {
        uint64_t v = pop(&rx);
        if (i >= count) {
            struct timespec ts = {0, delay_us * 1000L};
            nanosleep(&ts, NULL);
        }
        push(&tx, ~v);
    }
    close_end(&rx);
    close_end(&tx);
    return 0;
}
