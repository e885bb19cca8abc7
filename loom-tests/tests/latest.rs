//! loom models of the latest-value slot (`ipckit_core::latest`), run
//! against the shipping seqlock through the core's `loom` sync facade.
//!
//! Run with `RUSTFLAGS="--cfg ipckit_loom" cargo test -p ipckit-loom-tests --release --test latest`.
//! Without `--cfg ipckit_loom` this file compiles to nothing.
//!
//! The value is two `u32` words, each a loom atomic, so loom lets every
//! relaxed load of a reader's copy read any store that coherence and
//! happens-before allow: a copy that mixes the words of two writes (a torn
//! read) is a reachable state, and the models check that the seqlock never
//! *returns* one. Every value written is `[k, k]` with version `2k`, so a
//! torn or mislabelled read fails an assertion.
//!
//! What the models cover:
//! - one writer writing twice and two readers reading concurrently: each
//!   read is `Empty`, `Busy` (the bounded retry, 3 attempts under loom) or
//!   a whole value with its own version, and a reader's second read is
//!   never older than its first;
//! - a writer killed mid-write (its first word stored, `seq` left odd),
//!   its role released and a second writer taking over while a reader
//!   reads: the reader never sees the dead writer's partial value, and
//!   after the new writer's write every read is its value;
//! - a reader blocked in `read_changed` on a waking slot ([`LoomFutex`]) is
//!   always woken by the next write (a lost wake-up leaves it asleep,
//!   which loom reports as a deadlock), and returns that write's value.
//!
//! Each model sets a preemption bound, unless `LOOM_MAX_PREEMPTIONS` is set
//! in the environment, which then wins (to run a deeper check by hand): 2
//! for the three-thread model (234 thousand executions, about 35 s in
//! release), 6 and 8 for the two-thread ones (2,900 and 4,900 executions,
//! under a second each). Without the writer's wake call the sleeping
//! reader's model deadlocks.
//! Removing the reader's re-check of `seq`, its `Acquire` fence or the
//! writer's `Release` fence makes the first model accept a torn read
//! within milliseconds (the re-check and the reader's fence: the second
//! model too).
#![cfg(ipckit_loom)]

use ipckit_core::Error;
use ipckit_core::latest::{Options, Reader, Slot};
use ipckit_loom_tests::{LoomFutex, model};
use loom::thread;

/// One read: `None` for `Empty` or `Busy`, else `(k, version)` of a value
/// `[k, k]`, checked whole.
fn read(r: &mut Reader<'_, [u32; 2]>) -> Option<(u32, u32)> {
    match r.try_read() {
        Ok([a, b]) => {
            assert_eq!(a, b, "torn read [{a}, {b}] accepted");
            Some((a, r.version()))
        }
        Err(Error::Empty | Error::Busy) => None,
        Err(e) => panic!("{e}"),
    }
}

/// One read of a slot whose `k`-th value is `[k, k]` at version `2k`.
fn read_labelled(r: &mut Reader<'_, [u32; 2]>) -> Option<u32> {
    let (k, version) = read(r)?;
    assert_eq!(version, 2 * k, "value {k} with version {version}");
    Some(k)
}

/// A reader that reads `times` times: never a torn value, never going back.
fn reader(slot: &Slot<'static, [u32; 2]>, times: usize) -> thread::JoinHandle<()> {
    let mut r = slot.reader();
    thread::spawn(move || {
        let mut last = 0;
        for _ in 0..times {
            let k = read_labelled(&mut r).unwrap_or(last);
            assert!(k >= last, "read {last}, then the older {k}");
            last = k;
        }
    })
}

#[test]
fn one_writer_two_readers_never_accept_a_torn_read() {
    model(2, || {
        let slot = Slot::<[u32; 2]>::new_modelled(Options::new()).unwrap();
        let readers = [reader(&slot, 2), reader(&slot, 1)];
        let mut w = slot.writer().unwrap();
        w.write([1, 1]);
        w.write([2, 2]);
        for r in readers {
            r.join().unwrap();
        }
        // Once the writer is done every read is its last value.
        assert_eq!(read_labelled(&mut slot.reader()), Some(2));
    });
}

#[test]
fn a_writer_killed_mid_write_is_recovered() {
    model(6, || {
        let slot = Slot::<[u32; 2]>::new_modelled(Options::new()).unwrap();
        slot.writer().unwrap().write([1, 1]);
        let mut r = slot.reader();
        let reader = thread::spawn(move || {
            // Only the first writer's value or the second's, whole, each
            // with its version; never the dead writer's [2, 1].
            let read = read(&mut r);
            assert!(
                matches!(read, None | Some((1, 2)) | Some((3, 4))),
                "read {read:?}"
            );
        });
        // Dies after the first word of [2, 2]: `seq` 3, value [2, 1].
        slot.writer().unwrap().write_and_die([2, 2], 1);
        // SAFETY: the dead writer was consumed and is never used again.
        unsafe { slot.release_writer_claim() };
        let mut w = slot.writer().unwrap();
        assert_eq!(w.version(), 3);
        // The new writer's first write finishes from the odd 3: version 4.
        assert_eq!(w.write([3, 3]), 4);
        reader.join().unwrap();
        assert_eq!(read(&mut slot.reader()), Some((3, 4)));
    });
}

#[test]
fn a_sleeping_reader_is_woken_by_the_write() {
    model(8, || {
        let slot = Slot::<[u32; 2]>::new_modelled(Options::new().waking(true)).unwrap();
        let futex = LoomFutex::new();
        let mut r = slot.reader_with(futex.clone()).unwrap();
        let reader = thread::spawn(move || {
            assert_eq!(r.read_changed(), Ok([1, 1]));
            assert_eq!(r.version(), 2);
        });
        slot.writer_with(futex).unwrap().write([1, 1]);
        reader.join().unwrap();
    });
}
