//! Unit tests of the async waker: the slot's register/wake race, and the
//! SPSC ring's `poll_` methods with wakers that count or unpark a thread
//! (no executor crate: `block_on` below is the whole executor).

use core::future::Future;
use core::pin::pin;
use core::sync::atomic::AtomicUsize;
use core::task::{Context, Poll};
use std::sync::Arc;
use std::task::Wake;
use std::thread::{self, Thread};

use super::*;
use crate::spsc::{self, Options};
use crate::test_support::PeerMemory;

/// A waker that counts its wakes and unparks a thread, and whose clone may
/// run a hook (to play a publisher that runs inside `register`).
struct Probe {
    wakes: AtomicUsize,
    thread: Thread,
}

impl Wake for Probe {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes
            .fetch_add(1, core::sync::atomic::Ordering::SeqCst);
        self.thread.unpark();
    }
}

fn probe() -> Arc<Probe> {
    Arc::new(Probe {
        wakes: AtomicUsize::new(0),
        thread: thread::current(),
    })
}

fn wakes(p: &Arc<Probe>) -> usize {
    p.wakes.load(core::sync::atomic::Ordering::SeqCst)
}

/// The whole executor: polls `fut`, parking the thread while it is
/// pending; the waker unparks it. Returns the result and how many times it
/// parked.
fn block_on<F: Future>(fut: F) -> (F::Output, usize) {
    let p = probe();
    let waker = Waker::from(p);
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let mut parks = 0;
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return (out, parks);
        }
        parks += 1;
        thread::park();
    }
}

/// A register interrupted by a wake (as by an interrupt handler on the same
/// core): the wake finds the slot busy and leaves the waking to the
/// register, which wakes the waker it was storing.
#[test]
fn wake_during_register_wakes_the_new_waker() {
    static SLOT: AtomicWaker = AtomicWaker::new();

    let p = probe();
    // `register` clones the waker it is given: that clone calls wake.
    let hooked = HookedWaker::new(Waker::from(p.clone()), || SLOT.wake());
    SLOT.register(&hooked.waker());
    assert_eq!(wakes(&p), 1, "the wake during register was lost");
    assert!(SLOT.take().is_none(), "the woken waker stayed registered");
}

/// A `Waker` whose `clone` runs a hook once, then behaves as `inner`.
struct HookedWaker<'a> {
    inner: Waker,
    hook: std::sync::Mutex<Option<std::boxed::Box<dyn FnOnce() + Send + 'a>>>,
}

impl<'a> HookedWaker<'a> {
    fn new(inner: Waker, hook: impl FnOnce() + Send + 'a) -> Arc<Self> {
        Arc::new(Self {
            inner,
            hook: std::sync::Mutex::new(Some(std::boxed::Box::new(hook))),
        })
    }
}

trait HookedWakerExt {
    fn waker(&self) -> Waker;
}

impl HookedWakerExt for Arc<HookedWaker<'_>> {
    fn waker(&self) -> Waker {
        use core::task::{RawWaker, RawWakerVTable};
        unsafe fn clone(data: *const ()) -> RawWaker {
            // SAFETY: `data` is the `HookedWaker` that `waker` points to;
            // the test keeps it alive while the waker is used (the clones
            // are boxed copies of `inner`, which do not point to it).
            let this = unsafe { &*data.cast::<HookedWaker<'_>>() };
            let hook = this.hook.lock().unwrap().take();
            if let Some(hook) = hook {
                hook();
            }
            // The clone is a plain clone of the inner waker.
            let inner = std::boxed::Box::new(this.inner.clone());
            RawWaker::new(std::boxed::Box::into_raw(inner).cast(), &BOXED)
        }
        unsafe fn noop(_: *const ()) {}
        static HOOKED: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        unsafe fn boxed_clone(data: *const ()) -> RawWaker {
            // SAFETY: `data` is a live `Box<Waker>` of `BOXED`.
            let inner = unsafe { &*data.cast::<Waker>() }.clone();
            RawWaker::new(
                std::boxed::Box::into_raw(std::boxed::Box::new(inner)).cast(),
                &BOXED,
            )
        }
        unsafe fn boxed_wake(data: *const ()) {
            // SAFETY: `data` is a `Box<Waker>` of `BOXED`, consumed here.
            unsafe { std::boxed::Box::from_raw(data.cast_mut().cast::<Waker>()) }.wake();
        }
        unsafe fn boxed_wake_by_ref(data: *const ()) {
            // SAFETY: `data` is a live `Box<Waker>` of `BOXED`.
            unsafe { &*data.cast::<Waker>() }.wake_by_ref();
        }
        unsafe fn boxed_drop(data: *const ()) {
            // SAFETY: `data` is a `Box<Waker>` of `BOXED`, dropped once.
            drop(unsafe { std::boxed::Box::from_raw(data.cast_mut().cast::<Waker>()) });
        }
        static BOXED: RawWakerVTable =
            RawWakerVTable::new(boxed_clone, boxed_wake, boxed_wake_by_ref, boxed_drop);
        // SAFETY: the vtable's functions uphold the `RawWaker` contract for
        // a pointer to `self`, which outlives the waker made here (the
        // test keeps it alive; `noop` drop never frees it), and whose
        // clones do not point to it.
        unsafe { Waker::new(Arc::as_ptr(self).cast(), &HOOKED) }
    }
}

/// A ring of `u32` on fresh memory whose two ends wake each other's slots.
fn waking_ring(mem: &PeerMemory, capacity: u32) -> spsc::Ring<'_, u32> {
    spsc::Ring::<u32>::init_with(mem.region(), Options::new(capacity).waking(true)).unwrap()
}

/// An item published between the consumer's register and its re-check
/// (while nobody is announced, so the producer wakes nobody) is found by
/// the re-check: the poll is `Ready`, not a `Pending` nobody would end.
#[test]
fn publication_between_register_and_recheck_is_seen() {
    let mem = PeerMemory::new();
    let ring = waking_ring(&mem, 4);
    let pair = WakerPair::new();
    let mut rx = ring.consumer_with(pair.consumer()).unwrap();
    let tx = std::sync::Mutex::new(ring.producer_with(pair.producer()).unwrap());
    let p = probe();
    let hooked = HookedWaker::new(Waker::from(p.clone()), move || {
        tx.lock().unwrap().try_push(5).unwrap();
    });
    let waker = hooked.waker();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(rx.poll_pop(&mut cx), Poll::Ready(Ok(5)));
}

/// 100,000 items through a 16-slot ring, a producer thread and a consumer
/// thread both async (`push_async` / `pop_async` under `block_on`), their
/// wakers unparking the threads: none lost, none reordered, and both sides
/// really went `Pending` and were woken.
#[test]
fn hundred_thousand_items_through_async_ends() {
    const N: u32 = if cfg!(miri) { 500 } else { 100_000 };
    let mem = PeerMemory::new();
    let ring = waking_ring(&mem, 16);
    let pair = WakerPair::new();
    let mut tx = ring.producer_with(pair.producer()).unwrap();
    let mut rx = ring.consumer_with(pair.consumer()).unwrap();
    let (producer_parks, consumer_parks) = thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut parks = 0;
            for i in 0..N {
                let (r, p) = block_on(tx.push_async(i));
                r.unwrap();
                parks += p;
            }
            parks
        });
        let mut parks = 0;
        for i in 0..N {
            let (v, p) = block_on(rx.pop_async());
            assert_eq!(v, Ok(i));
            parks += p;
        }
        (producer.join().unwrap(), parks)
    });
    std::eprintln!("async ends: producer parked {producer_parks} times, consumer {consumer_parks}");
    assert!(consumer_parks > 0, "the consumer never waited");
}

/// A pending poll's announcement: a publication wakes the registered task;
/// a consumer dropped while announced withdraws, so the next publication
/// wakes nobody; a ready poll withdraws too.
#[test]
fn announcement_is_withdrawn_on_ready_and_on_drop() {
    let mem = PeerMemory::new();
    let ring = waking_ring(&mem, 4);
    let pair = WakerPair::new();
    let mut tx = ring.producer_with(pair.producer()).unwrap();
    let p = probe();
    let waker = Waker::from(p.clone());
    let mut cx = Context::from_waker(&waker);
    {
        let mut rx = ring.consumer_with(pair.consumer()).unwrap();
        assert!(rx.poll_pop(&mut cx).is_pending());
        tx.try_push(1).unwrap();
        assert_eq!(wakes(&p), 1, "the publication did not wake the task");
        assert_eq!(rx.poll_pop(&mut cx), Poll::Ready(Ok(1)));
        // Ready withdrew: register a waker by hand, nothing wakes it.
        pair.consumer().waker_slot().register(&waker);
        tx.try_push(2).unwrap();
        assert_eq!(wakes(&p), 1, "a ready poll left the announcement up");
        assert_eq!(rx.poll_pop(&mut cx), Poll::Ready(Ok(2)));
        assert!(rx.poll_pop(&mut cx).is_pending());
    }
    // Dropped while announced (with the waker registered).
    tx.try_push(3).unwrap();
    assert_eq!(wakes(&p), 1, "a dropped consumer left its announcement up");
}

/// A producer awaiting room is woken by the consumer's pop.
#[test]
fn full_producer_is_woken_by_a_pop() {
    let mem = PeerMemory::new();
    let ring = waking_ring(&mem, 1);
    let pair = WakerPair::new();
    let mut tx = ring.producer_with(pair.producer()).unwrap();
    let mut rx = ring.consumer_with(pair.consumer()).unwrap();
    let p = probe();
    let waker = Waker::from(p.clone());
    let mut cx = Context::from_waker(&waker);
    assert_eq!(tx.poll_push(&mut cx, 1), Poll::Ready(Ok(())));
    assert!(tx.poll_push(&mut cx, 2).is_pending());
    assert_eq!(rx.try_pop(), Ok(1));
    assert_eq!(wakes(&p), 1);
    assert_eq!(tx.poll_push(&mut cx, 2), Poll::Ready(Ok(())));
    assert_eq!(rx.try_pop(), Ok(2));
}

/// The frame ring's async ends: 20,000 frames of 0 to 49 bytes through a
/// 256-byte ring between two threads (`send_async` / `recv_async`), every
/// byte checked.
#[test]
fn frames_through_async_ends() {
    use crate::frame;
    const N: u32 = if cfg!(miri) { 200 } else { 20_000 };
    let mem = PeerMemory::new();
    let ring = frame::spsc::Ring::init_with(mem.region(), Options::new(256).waking(true)).unwrap();
    let pair = WakerPair::new();
    let mut tx = ring.producer_with(pair.producer()).unwrap();
    let mut rx = ring.consumer_with(pair.consumer()).unwrap();
    let frame_of = |i: u32, out: &mut [u8; 64]| -> usize {
        let len = (i % 50) as usize;
        for (k, b) in out[..len].iter_mut().enumerate() {
            *b = (i as usize + k) as u8;
        }
        len
    };
    thread::scope(|s| {
        s.spawn(move || {
            let mut buf = [0u8; 64];
            for i in 0..N {
                let len = frame_of(i, &mut buf);
                block_on(tx.send_async(&buf[..len])).0.unwrap();
            }
        });
        let (mut got, mut want) = ([0u8; 64], [0u8; 64]);
        for i in 0..N {
            let len = block_on(rx.recv_async(&mut got)).0.unwrap();
            let expected = frame_of(i, &mut want);
            assert_eq!(got[..len], want[..expected], "frame {i}");
        }
    });
}
