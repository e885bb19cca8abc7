//! loom models of the subscriber table's tickets
//! (`ipckit_core::broadcast::Ring::{table_ticket, release_entry}`, the
//! protocol in `core/src/broadcast/ticket.rs`), run against the shipping
//! source through the core's `loom` sync facade.
//!
//! Run with
//! `RUSTFLAGS="--cfg ipckit_loom" CARGO_TARGET_DIR=target/loom cargo test -p ipckit-loom-tests --release --test broadcast_ticket`.
//! Without `--cfg ipckit_loom` this file compiles to nothing.
//!
//! What the models cover: two judges that judged the same dead member
//! release its entry while a new subscriber joins into it. Exactly one
//! release succeeds, and the newcomer's entry is never freed after its join:
//! at the end, if it joined, the entry is active with an unreleased ticket.
//! Shown failing with the release's ticket compare-and-swap replaced by a
//! plain `FREE` store (the build before tickets), and, for the second
//! model, with a judge that also acts on a release under way (`R` set,
//! `F` clear) by starting a fresh generation.
#![cfg(ipckit_loom)]

use ipckit_core::broadcast::{ACTIVE, FREE, Member, Options, Policy, RELEASED, Ring, Start};
use ipckit_core::wait::Spin;
use ipckit_loom_tests::model;
use loom::thread;

type Item = [u32; 2];

fn one_entry() -> Options {
    Options::new(2).subscribers(1).policy(Policy::Reliable)
}

/// The newcomer: tries to join twice (the entry is free only after a
/// release).
fn newcomer(ring: &Ring<'static, Item>) -> Option<Member<'static, Item>> {
    for _ in 0..2 {
        if let Ok(member) = ring.join(Start::Next) {
            return Some(member);
        }
        thread::yield_now();
    }
    None
}

/// What must hold once the judges are done: a newcomer that joined still
/// holds its entry (active, its own generation: `R` clear), and leaves.
fn newcomer_kept(ring: &Ring<'static, Item>, joined: Option<Member<'static, Item>>) {
    if let Some(member) = joined {
        let (state, ticket) = ring.table_ticket(0).unwrap().unwrap();
        assert_eq!(state, ACTIVE, "the newcomer's entry was freed under it");
        assert_eq!(
            ticket & RELEASED,
            0,
            "the newcomer's generation was released"
        );
        drop(member);
        assert_eq!(ring.table_entry(0).unwrap().0, FREE);
    }
}

/// Both judges observed the dead member's ticket before they started; each
/// releases with it, late or not, while the newcomer joins.
#[test]
fn two_late_judges_never_free_a_newer_member() {
    model(3, || {
        let ring = Ring::<Item>::new_modelled_with(one_entry()).unwrap();
        let dead = ring.join(Start::Next).unwrap().die();
        let (state, observed) = ring.table_ticket(dead).unwrap().unwrap();
        assert_eq!(state, ACTIVE);
        let judges: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || ring.release_entry(dead, observed, &Spin::new()).unwrap())
            })
            .collect();
        let joined = newcomer(&ring);
        let released: Vec<bool> = judges.into_iter().map(|j| j.join().unwrap()).collect();
        assert_eq!(
            released.iter().filter(|&&r| r).count(),
            1,
            "one release per generation"
        );
        newcomer_kept(&ring, joined);
    });
}

/// The judges observe inside their threads (ticket, state, ticket), so one
/// may observe the other's release under way; each releases only an
/// observation of the dead member's generation (what its judgement of
/// liveness would say: the newcomer is alive).
#[test]
fn judges_that_observe_a_release_under_way_leave_it_alone() {
    model(3, || {
        let ring = Ring::<Item>::new_modelled_with(one_entry()).unwrap();
        let dead = ring.join(Start::Next).unwrap().die();
        let (_, generation) = ring.table_ticket(dead).unwrap().unwrap();
        let judges: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || {
                    let Some((state, observed)) = ring.table_ticket(dead).unwrap() else {
                        return false; // changing: judged again later
                    };
                    // The dead member's generation, released or not, but
                    // not one a newcomer claimed after the release (`| 3`).
                    let dead_generation =
                        observed & !3 == generation && observed & 3 != 3 && state != FREE;
                    dead_generation && ring.release_entry(dead, observed, &Spin::new()).unwrap()
                })
            })
            .collect();
        let joined = newcomer(&ring);
        let released = judges.into_iter().map(|j| j.join().unwrap());
        assert!(
            released.filter(|&r| r).count() <= 1,
            "two releases of one generation"
        );
        newcomer_kept(&ring, joined);
    });
}
