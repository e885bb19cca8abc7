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
