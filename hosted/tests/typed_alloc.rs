//! The typed endpoints allocate nothing per message once warmed up (for a
//! type whose own decoding allocates nothing): a counting global allocator
//! watches 10,000 sends and receives.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ipckit::channel::bytes;
use ipckit::channel::typed::{MessageType, Receiver, Sender};
use ipckit::shm::Memfd;
use serde::{Deserialize, Serialize};

struct Counting;

thread_local! {
    /// This thread's allocations (other threads of the test harness do not
    /// count). Const-initialised, no destructor: using it never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call to the system allocator unchanged; only
// counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
enum Reading {
    Temperature { sensor: u16, milli_c: i32 },
    Pressure([u32; 8]),
}
impl MessageType for Reading {}

#[test]
fn no_allocation_per_message_after_warm_up() -> ipckit::Result<()> {
    let mem = Memfd::create("typed-alloc", bytes::Sender::object_len(1 << 14).unwrap())?;
    let mut tx = Sender::<Reading>::init_on(mem, 1 << 14)?;
    let mem = Memfd::from_fd(
        std::os::fd::AsFd::as_fd(tx.as_bytes().memory())
            .try_clone_to_owned()
            .unwrap(),
    )?;
    let mut rx = Receiver::<Reading>::attach(mem)?;
    let big = Reading::Pressure([u32::MAX; 8]);
    // Warm-up: the largest message once, each way.
    tx.send(&big)?;
    assert_eq!(rx.recv()?, big);
    let before = allocations();
    for i in 0..10_000u32 {
        let r = match i % 2 {
            0 => Reading::Temperature {
                sensor: i as u16,
                milli_c: -(i as i32),
            },
            _ => Reading::Pressure([i; 8]),
        };
        tx.try_send(&r)?;
        assert_eq!(rx.try_recv()?, r);
    }
    let allocations = allocations() - before;
    assert_eq!(allocations, 0, "allocations in 10,000 round trips");
    Ok(())
}
