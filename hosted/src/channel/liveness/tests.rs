//! The liveness block's judgements of intents, on a block on the heap.

use std::cell::Cell;
use std::ptr::NonNull;

use super::*;
use crate::error::Role;

/// A liveness block in heap memory (8-aligned), and the block over it.
fn heap_block() -> (Vec<u64>, Block) {
    let mut words = vec![0u64; LIVENESS_LEN / 8];
    let base = NonNull::new(words.as_mut_ptr().cast::<u8>()).expect("non-null");
    // SAFETY: `LIVENESS_LEN` bytes, 8-aligned; the vector is returned with
    // the block, and its heap buffer does not move while it lives.
    let block = unsafe { Block::new(base, MAX_ENDPOINTS) };
    block.init();
    (words, block)
}

/// A process that ran and was reaped: its pid with a start time no process
/// has (so it stays dead even if the pid is reused).
fn dead_process() -> ProcessId {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    child.wait().expect("wait for true");
    ProcessId {
        pid: child.id(),
        start_time: 1,
    }
}

/// A sender announced a claim of 48 bytes at position 4096 and was about
/// to move `tail` from 4096. The receiver read the intent while `tail` was
/// still 4096 (nothing claimed there), then the sender's compare-and-swap
/// moved `tail`, and the sender died before its header store; only then did
/// the receiver find it dead. Its intent is now the only record of the
/// claim and must stay; once the claim is behind `head`, it is released.
#[test]
fn a_claim_made_after_the_first_look_keeps_its_intent() {
    let (_words, block) = heap_block();
    block
        .claim_from(Role::Producer, 0, 0, dead_process())
        .expect("slot 0 is free");
    block.intent(Role::Producer, 0).announce(4096, 48);
    let (head, tail) = (Cell::new(4096u32), Cell::new(4096u32));
    let pending = |p: u32| {
        let pending = p.wrapping_sub(head.get()) < tail.get().wrapping_sub(head.get());
        // The sender's compare-and-swap lands right after this look.
        tail.set(4096 + 48);
        pending
    };
    block.release_stale_intents(Role::Producer, pending);
    assert_eq!(block.intent(Role::Producer, 0).read(), (4096, 48));
    // The receiver skipped the claim: nothing to keep any more.
    head.set(4096 + 48);
    block.release_stale_intents(Role::Producer, |p| {
        p.wrapping_sub(head.get()) < tail.get().wrapping_sub(head.get())
    });
    assert_eq!(block.intent(Role::Producer, 0).read(), (4096, 0));
}

/// `all_closed` reads the state words only: closed once a slot closed and
/// none is held; a dead holder's slot stays held (that needs `/proc`).
#[test]
fn all_closed_needs_one_closed_slot_and_none_held() {
    let (_words, block) = heap_block();
    let me = ProcessId::current().expect("this process");
    assert!(!block.all_closed(Role::Producer), "never used");
    let a = block.claim_from(Role::Producer, 0, 0, me).expect("claim 0");
    let b = block.claim_from(Role::Producer, 1, 0, me).expect("claim 1");
    assert!(!block.all_closed(Role::Producer), "two held");
    block.close(Role::Producer, 0, a);
    assert!(!block.all_closed(Role::Producer), "one still held");
    block.close(Role::Producer, 1, b);
    assert!(block.all_closed(Role::Producer), "both closed");
    let dead = block
        .claim_from(Role::Consumer, 0, 0, dead_process())
        .expect("claim");
    assert!(
        !block.all_closed(Role::Consumer),
        "a dead holder: {dead:#x}"
    );
}

/// A wait watching the producers returns `PeerGone` at once when all
/// closed, and wakes within milliseconds when the last one closes while it
/// sleeps (without the close's wake it would sleep out its timeout).
#[test]
fn a_close_ends_a_watching_wait() {
    use std::sync::atomic::AtomicU32;
    use std::time::{Duration, Instant};

    let (_words, block) = heap_block();
    let me = ProcessId::current().expect("this process");
    let active = block.claim_from(Role::Producer, 0, 0, me).expect("claim");
    let watch = PeerWatch::new(block, Role::Producer);
    let ring_word = AtomicU32::new(7);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let started = Instant::now();
            let mut ended = Ok(ipckit_core::wait::WaitStatus::Woken);
            // Woken (the close) then PeerGone at the re-check.
            while started.elapsed() < Duration::from_secs(5) {
                ended = watch.wait(&ring_word, 7, Some(Duration::from_secs(5)));
                if ended.is_err() {
                    break;
                }
            }
            (ended, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        block.close(Role::Producer, 0, active);
        let (ended, took) = waiter.join().expect("waiter");
        assert_eq!(ended, Err(crate::error::CoreError::PeerGone));
        assert!(took < Duration::from_secs(1), "took {took:?}");
    });
}
