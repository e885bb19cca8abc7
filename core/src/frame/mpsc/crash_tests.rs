//! Crash and hostile-peer tests of the MPSC frame ring: the states a
//! consumer killed inside its erase of a record leaves (taken over by the
//! next consumer), claims attributed by intents, and the budgets that bound
//! the consumer's work on peer data.
//!
//! The states are written byte by byte at the documented layout offsets,
//! as a process killed between two stores leaves them.

use std::sync::atomic::Ordering::SeqCst;
use std::vec::Vec;

use super::tests::{DATA, HEAD, TAIL, at, recv_vec, round_trips};
use super::*;
use crate::test_support::PeerMemory;
use crate::wait::WaitStatus;
use crate::{AlignedBytes, Region};

const PRODUCERS_WAITING: usize = 264;
/// The consumer's erase journal: position, then span (an [`Intent`]).
const ERASING: usize = 268;

fn frame(tag: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| tag ^ (i as u8).wrapping_mul(3) | 1)
        .collect()
}

/// Checks that the data area of the ring of `cap` bytes in `mem` is all
/// zeros: every byte given back was cleared.
fn assert_data_zeroed(mem: &PeerMemory, cap: u32) {
    assert!(
        mem.bytes(DATA + cap as usize)[DATA..]
            .iter()
            .all(|&b| b == 0)
    );
}

/// Zeroes `len` bytes of the region from `offset` (multiples of 4), as the
/// erase's stores would.
fn zero(mem: &PeerMemory, offset: usize, len: usize) {
    for o in (offset..offset + len).step_by(4) {
        mem.word(o).store(0, SeqCst);
    }
}

/// A ring of `cap` bytes at `start` with frames A (40 bytes) and B (20
/// bytes) queued; returns the memory, the ring and A's position.
fn two_frames(cap: u32, start: u32) -> (PeerMemory, u32) {
    let mem = PeerMemory::new();
    let ring = Ring::init_at(mem.region(), cap, start).unwrap();
    let tx = ring.producer().unwrap().with_id(5).unwrap();
    tx.try_send(&frame(0xA0, 40)).unwrap();
    tx.try_send(&frame(0xB0, 20)).unwrap();
    let head = mem.word(HEAD).load(SeqCst);
    (mem, head)
}

/// Writes the erase journal as a consumer does before it erases the
/// record of `span` bytes at `position`.
fn write_journal(mem: &PeerMemory, position: u32, span: u32) {
    mem.word(ERASING).store(position, SeqCst);
    mem.word(ERASING + 4).store(span, SeqCst);
}

/// A consumer that died holding the role (its handle forgotten), released
/// as a take-over does, and the next consumer.
fn take_over<'a>(ring: &Ring<'a>) -> Result<Consumer<'a>> {
    core::mem::forget(ring.consumer().unwrap());
    // SAFETY: the forgotten consumer is never used again.
    unsafe { ring.release_consumer_claim() };
    ring.consumer()
}

/// The consumer read A, wrote its erase journal and zeroed the second half
/// of A's payload, then died (header intact, `head` not moved). A is not
/// delivered again, half zeroed: the next consumer finishes the erase and
/// delivers B, then what a live producer sends.
#[test]
fn a_record_the_dead_consumer_was_erasing_is_not_delivered_again() {
    let cap = 256;
    let (mem, head) = two_frames(cap, u32::MAX - 63);
    write_journal(&mem, head, 48);
    zero(&mem, at(cap, head, 8 + 20), 20);
    let ring = Ring::attach(mem.region()).unwrap();
    let mut rx = take_over(&ring).unwrap();
    assert_eq!(recv_vec(&mut rx).unwrap(), frame(0xB0, 20));
    ring.producer().unwrap().try_send(b"live").unwrap();
    assert_eq!(recv_vec(&mut rx).unwrap(), b"live");
    assert_eq!(rx.skipped(), Skipped::default());
}

/// The consumer zeroed all of A, header last, and died before publishing
/// `head`: A's bytes read as a claim whose header was never written. The
/// next consumer must not wait for a writer (there is none): it finishes
/// the erase from the journal and delivers B, and the producers get the
/// space back.
#[test]
fn a_record_erased_up_to_its_header_is_released_by_the_next_consumer() {
    let cap = 256;
    let (mem, head) = two_frames(cap, u32::MAX - 63);
    write_journal(&mem, head, 48);
    zero(&mem, at(cap, head, 0), 48);
    let ring = Ring::attach(mem.region()).unwrap();
    let mut rx = take_over(&ring).unwrap();
    assert_eq!(recv_vec(&mut rx), Ok(frame(0xB0, 20)));
    let tx = ring.producer().unwrap();
    let mut sent = 0;
    while tx.try_send(&[7; 24]).is_ok() {
        sent += 1;
    }
    assert_eq!(sent, cap / 32, "the erased record's space is free again");
    for _ in 0..sent {
        assert_eq!(recv_vec(&mut rx).unwrap(), [7; 24]);
    }
    assert_eq!(rx.skipped(), Skipped::default());
}

/// A notifier whose `wake_all` (called after every record the consumer
/// consumes, since a producer is announced as waiting) appends one more
/// 8-byte discarded record at `tail`: a live producer that keeps the
/// consumer busy with records it must skip.
struct Discarder<'m> {
    mem: &'m PeerMemory,
    cap: u32,
    forged: core::cell::Cell<u32>,
}

const FORGE_LIMIT: u32 = 100_000;

impl Notify for Discarder<'_> {
    fn wait(&self, _: &AtomicU32, _: u32, _: Option<Duration>) -> Result<WaitStatus> {
        Ok(WaitStatus::TimedOut)
    }

    fn wake_one(&self, _: &AtomicU32) {}

    fn wake_all(&self, _: &AtomicU32) {
        if self.forged.get() >= FORGE_LIMIT {
            return;
        }
        self.forged.set(self.forged.get() + 1);
        let tail = self.mem.word(TAIL).load(SeqCst);
        self.mem
            .word(at(self.cap, tail, 4))
            .store(DISCARDED, SeqCst);
        self.mem
            .word(at(self.cap, tail, 0))
            .store(frame_word(0), SeqCst);
        self.mem.word(TAIL).store(tail.wrapping_add(8), SeqCst);
    }
}

/// One `try_recv` consumes at most a capacity of padding and discarded
/// records, then returns `Empty`; the next call goes on.
#[test]
fn a_producer_that_keeps_discarding_cannot_keep_try_recv_from_returning() {
    let cap = 256;
    let mem = PeerMemory::new();
    let ring = Ring::init_with(mem.region(), Options::new(cap).waking(true)).unwrap();
    let notify = Discarder {
        mem: &mem,
        cap,
        forged: core::cell::Cell::new(0),
    };
    let mut rx = ring.consumer_with(notify).unwrap();
    mem.word(PRODUCERS_WAITING).store(1, SeqCst);
    for _ in 0..4 {
        rx.notify.wake_all(ring.word(super::HEAD));
    }
    assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
    let forged = rx.notify.forged.get();
    assert!(
        forged <= 4 + cap / 8,
        "one try_recv consumed {forged} discarded records"
    );
    // Still a working ring: the discarder stops, the next call drains the
    // rest (at most a capacity), and a frame written behind it arrives.
    rx.notify.forged.set(FORGE_LIMIT);
    assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
    let tail = mem.word(TAIL).load(SeqCst);
    assert_eq!(mem.word(HEAD).load(SeqCst), tail);
    mem.word(at(cap, tail, 8))
        .store(u32::from_ne_bytes(*b"abcd"), SeqCst);
    mem.word(at(cap, tail, 0)).store(frame_word(3), SeqCst);
    mem.word(TAIL).store(tail.wrapping_add(16), SeqCst);
    let mut buf = [0; 8];
    assert_eq!(rx.try_recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
}

/// A peer that keeps writing one word, each time 8 bytes before the one
/// the last scan pass stopped at (and clearing that one): every pass finds
/// a new first word. The scan gives up after `SCAN_PASSES` passes instead
/// of making one pass per word (quadratic work).
#[test]
fn the_skip_scan_is_bounded_against_a_peer_that_keeps_rewriting() {
    let words = 1024u32;
    let readable = 8 * words;
    let wall = core::cell::Cell::new(readable - 8);
    let loads = core::cell::Cell::new(0u64);
    let found = scan_words(readable, |d| {
        loads.set(loads.get() + 1);
        if d != wall.get() {
            return 0;
        }
        // Seen: the peer moves on to the word before it.
        wall.set(d - 8);
        1
    });
    assert!(
        loads.get() <= u64::from(SCAN_PASSES * words),
        "{} loads for {words} words",
        loads.get()
    );
    assert_eq!(found, Scan::Unsure);
    // A header written once before the first hit (an honest producer) is
    // found by the second pass.
    let early = core::cell::Cell::new(false);
    let found = scan_words(readable, |d| match d {
        64 if early.get() => 1,
        256 => {
            early.set(true);
            1
        }
        _ => 0,
    });
    assert_eq!(found, Scan::Found(64));
    assert_eq!(scan_words(readable, |_| 0), Scan::Nothing);
}

/// Runs `test` for every step at which a kill can fall (`alive` in
/// `0..=last`), each time on a fresh ring of `cap` bytes whose positions
/// start at `start`.
fn at_every_kill_step(last: u32, cap: u32, start: u32, test: impl Fn(u32, &PeerMemory, &Ring<'_>)) {
    for alive in 0..=last {
        let mem = PeerMemory::new();
        let ring = Ring::init_at(mem.region(), cap, start).unwrap();
        test(alive, &mem, &ring);
    }
}

/// Erases the record at `head` as `rx` would, but "dies" after `alive`
/// steps of the erase; then the next consumer takes over. Returns it and
/// whether the erase had finished.
fn die_erasing<'a>(
    ring: &Ring<'a>,
    mut rx: Consumer<'a>,
    span: u32,
    skip: bool,
    alive: u32,
) -> (Consumer<'a>, bool) {
    let mut steps = 0;
    let finished = rx.erase_steps(span, skip, &mut || {
        steps += 1;
        steps <= alive
    });
    core::mem::forget(rx);
    // SAFETY: the forgotten consumer is never used again.
    unsafe { ring.release_consumer_claim() };
    (ring.consumer().unwrap(), finished)
}

/// Every instant of the erase of a frame, of a padding record and of a
/// discarded record, killed and taken over: a frame is delivered again
/// only if the kill came before its journal entry, never damaged; the
/// frames behind arrive; the ring stays usable (all its space comes back).
#[test]
fn a_consumer_killed_at_any_step_of_an_erase_is_taken_over() {
    // A (40 bytes) at offset 192, padding 240..256 (B needs 48 bytes), B at
    // 0, then a discarded record, then C.
    at_every_kill_step(7, 256, u32::MAX - 63, |alive, mem, ring| {
        let tx = ring.producer().unwrap().with_id(3).unwrap();
        tx.try_send(&frame(0xA0, 40)).unwrap();
        tx.try_send(&frame(0xB0, 36)).unwrap();
        drop(tx.try_grant(4).unwrap());
        tx.try_send(&frame(0xC0, 3)).unwrap();
        let rx = ring.consumer().unwrap();
        // The frame A, read in place, then erased.
        let (mut rx, done) = die_erasing(ring, rx, 48, false, alive);
        // Killed before the journal names A (`alive` 1: its span written,
        // its position not): A is delivered again.
        if alive <= 1 {
            assert_eq!(recv_vec(&mut rx).unwrap(), frame(0xA0, 40), "{alive}");
        } else {
            assert_eq!(done, alive >= 6, "{alive}");
        }
        // The padding record at `head`.
        let (mut rx, _) = die_erasing(ring, rx, 16, false, alive);
        assert_eq!(recv_vec(&mut rx).unwrap(), frame(0xB0, 36), "{alive}");
        // The discarded record.
        let (mut rx, _) = die_erasing(ring, rx, 16, false, alive);
        assert_eq!(recv_vec(&mut rx).unwrap(), frame(0xC0, 3), "{alive}");
        assert_eq!(recv_vec(&mut rx), Err(Error::Empty));
        assert_eq!(rx.skipped(), Skipped::default());
        // All of the space is back, and zeroed.
        let head = mem.word(HEAD).load(SeqCst);
        assert_eq!(mem.word(TAIL).load(SeqCst), head, "{alive}");
        assert_data_zeroed(mem, 256);
        round_trips(&tx, &mut rx, 2, 56);
    });
}

/// A skip killed at every step and taken over: skipped exactly once (or
/// counted twice when the kill fell between the count and `head`).
#[test]
fn a_consumer_killed_in_a_skip_is_taken_over() {
    at_every_kill_step(8, 128, u32::MAX - 15, |alive, mem, ring| {
        // A dead claim of 16 bytes of padding and 32 at offset 0.
        let intent = Intent::new();
        let dead = ring.producer().unwrap().with_intent(&intent);
        assert!(dead.claim_and_die(20).unwrap());
        let tx = ring.producer().unwrap();
        tx.try_send(b"behind").unwrap();
        let mut rx = ring.consumer().unwrap();
        let stall = rx.stalled().unwrap().unwrap();
        assert_eq!((stall.position, stall.claimant), (u32::MAX - 15, None));
        let span = intent.names(stall.position).unwrap();
        assert_eq!(span, 48);
        let (mut rx, done) = die_erasing(ring, rx, span, true, alive);
        if alive <= 1 {
            // The journal names nothing yet: the stall is still there.
            assert_eq!(rx.skip_unwritten(stall.position, span), Ok(48));
        }
        assert_eq!(recv_vec(&mut rx).unwrap(), b"behind", "{alive}");
        let counted = if alive == 6 { 2 } else { 1 };
        assert_eq!(rx.skipped().records, counted, "{alive}");
        assert_eq!(done, alive >= 7);
        assert_data_zeroed(mem, 128);
    });
}

/// A producer with an intent announces each claim before its
/// compare-and-swap and clears it once its headers are written; a claim
/// whose claimant died after the compare-and-swap is skipped by exactly the
/// announced bytes, padding included, and every bad span is refused.
#[test]
fn a_dead_claim_is_skipped_by_its_announced_span() {
    let mem = PeerMemory::new();
    let ring = Ring::init_at(mem.region(), 256, u32::MAX - 31).unwrap();
    let (dead_intent, live_intent) = (Intent::new(), Intent::new());
    let dead = ring.producer().unwrap().with_intent(&dead_intent);
    let live = ring
        .producer()
        .unwrap()
        .with_id(9)
        .unwrap()
        .with_intent(&live_intent);
    let mut rx = ring.consumer().unwrap();
    live.try_send(b"one").unwrap();
    assert_eq!(live_intent.read().1, 0, "cleared after the claim");
    // Offset 240: 16 bytes to the end; a 40-byte frame needs 48: it pads.
    assert!(dead.claim_and_die(40).unwrap());
    let position = u32::MAX - 31 + 16;
    assert_eq!(dead_intent.read(), (position, 16 + 48));
    live.try_send(b"two").unwrap();
    assert_eq!(recv_vec(&mut rx).unwrap(), b"one");
    assert_eq!(recv_vec(&mut rx), Err(Error::Empty));
    let stall = rx.stalled().unwrap().unwrap();
    assert_eq!((stall.position, stall.claimant), (position, None));
    // Spans no claim at this position can have.
    // 24 and 32: the record would have fitted before the end (no padding);
    // 152: a record over half the capacity; 88: past `tail`.
    for bad in [0, 4, 12, 24, 32, 152, 88, u32::MAX] {
        assert!(
            matches!(rx.skip_unwritten(position, bad), Err(Error::Corrupted(_))),
            "{bad}"
        );
    }
    // Another position, or a header written since: nothing skipped.
    assert_eq!(rx.skip_unwritten(position + 8, 64), Ok(0));
    assert_eq!(rx.skip_unwritten(position, 64), Ok(64));
    assert_eq!(recv_vec(&mut rx).unwrap(), b"two");
    assert_eq!(
        rx.skipped(),
        Skipped {
            records: 1,
            bytes: 64
        }
    );
    assert_eq!(rx.skip_unwritten(rx.head, 8), Ok(0), "nothing claimed");
    // A claim finished after the attribution is not skipped.
    let grant = live.try_grant(3).unwrap();
    assert_eq!(rx.skip_unwritten(rx.head, 16), Ok(0));
    grant.commit(3).unwrap();
    assert_eq!(recv_vec(&mut rx).unwrap(), [0; 3]);
    // The intent is cleared when the ring is full, too.
    while live.try_send(&[1; 100]).is_ok() {}
    assert_eq!(live_intent.read().1, 0);
}

/// `is_pending` tells positions of the unconsumed part of the ring.
#[test]
fn pending_positions_are_those_from_head_to_tail() {
    let mut bytes = AlignedBytes::<{ 512 + 64 }>::new();
    let ring = Ring::init_at(Region::from_slice(&mut bytes[..]), 64, u32::MAX - 7).unwrap();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.try_send(&[1; 20]).unwrap(); // padding 8, record 32 at 0
    for (p, pending) in [(u32::MAX - 7, true), (0, true), (24, true), (32, false)] {
        assert_eq!(rx.is_pending(p), Ok(pending), "{p}");
        assert_eq!(rx.is_pending(p.wrapping_sub(64)), Ok(false), "{p}");
    }
    recv_vec(&mut rx).unwrap();
    assert_eq!(rx.is_pending(0), Ok(false));
}
