//! Test helpers shared by the unit tests of every region kind.

use std::boxed::Box;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32 as StdAtomicU32;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;
use std::vec::Vec;

use crate::{AlignedBytes, Region};

/// Bytes of every [`PeerMemory`].
pub(crate) const MEM: usize = 4096;

/// Heap memory handed out as a *raw* region, so that a test can act as a
/// faulty peer and write words while ring handles are alive.
pub(crate) struct PeerMemory {
    bytes: NonNull<AlignedBytes<MEM>>,
}

impl PeerMemory {
    pub(crate) fn new() -> Self {
        let bytes = NonNull::from(Box::leak(Box::new(AlignedBytes::<MEM>::new())));
        Self { bytes }
    }

    pub(crate) fn region(&self) -> Region<'_> {
        self.region_at(0, MEM)
    }

    pub(crate) fn region_at(&self, offset: usize, len: usize) -> Region<'_> {
        assert!(offset + len <= MEM);
        // SAFETY: in-bounds offset of a live allocation.
        let base = unsafe { self.bytes.cast::<u8>().add(offset) };
        // SAFETY: the allocation lives as long as `self`, is zero-initialised,
        // and is only accessed through rings and `word` (atomics).
        unsafe { Region::from_raw(base, len) }
    }

    /// The `u32` at `offset`, as the peer sees it.
    pub(crate) fn word(&self, offset: usize) -> &StdAtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= MEM);
        // SAFETY: aligned, in bounds, and only ever accessed atomically.
        unsafe {
            self.bytes
                .cast::<u8>()
                .add(offset)
                .cast::<StdAtomicU32>()
                .as_ref()
        }
    }

    /// Stores `value` in each word at `offsets`, as the peer writes: for
    /// a peer that repairs a ring by setting both its positions alike.
    pub(crate) fn store_each(&self, offsets: &[usize], value: u32) {
        for &offset in offsets {
            self.word(offset).store(value, SeqCst);
        }
    }

    pub(crate) fn bytes(&self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| {
                let w = self.word(i & !3).load(SeqCst);
                w.to_ne_bytes()[i & 3]
            })
            .collect()
    }
}

// SAFETY: the memory is only accessed through atomics and ring handles, which
// are built for concurrent use.
unsafe impl Sync for PeerMemory {}

impl Drop for PeerMemory {
    fn drop(&mut self) {
        // SAFETY: `bytes` came from `Box::leak` and every region borrowed
        // from `self` has ended.
        drop(unsafe { Box::from_raw(self.bytes.as_ptr()) });
    }
}

/// A monotonic clock for notifiers in tests (`Spin::with_clock`).
pub(crate) fn std_clock() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// The tests' futex: a std mutex and condition variable that behaves like
/// the real one, so that the core's own tests (and miri) exercise sleeping
/// waiters without an OS futex. Each word has its own queue of sleepers: a
/// waiter returns only when it is woken itself (waking the wrong word shows
/// up as a hang), `wake_one` wakes exactly the oldest sleeper of the word
/// (wake-one reasoning is tested, not papered over) and `wake_all` the
/// sleepers there are, not one that comes later. It counts the wake calls
/// it gets and the threads asleep in it.
#[derive(Clone, Default)]
pub(crate) struct CondvarFutex(std::sync::Arc<FutexInner>);

#[derive(Default)]
struct FutexInner {
    words: std::sync::Mutex<Words>,
    cond: std::sync::Condvar,
    wakes: StdAtomicU32,
    sleepers: StdAtomicU32,
}

/// The sleepers of every word, by ticket, and the tickets woken and not
/// yet returned.
#[derive(Default)]
struct Words {
    next_ticket: u64,
    asleep: std::collections::HashMap<usize, std::collections::VecDeque<u64>>,
    woken: std::collections::HashSet<u64>,
}

impl CondvarFutex {
    fn key(word: &crate::sync::AtomicU32) -> usize {
        word as *const crate::sync::AtomicU32 as usize
    }

    /// The wake calls so far.
    #[allow(dead_code)] // not every test module asks
    pub(crate) fn wakes(&self) -> u32 {
        self.0.wakes.load(SeqCst)
    }

    /// The threads asleep now (counted under the lock: a waker that sees
    /// the count can only take the lock once they are inside the condition
    /// variable).
    #[allow(dead_code)] // not every test module asks
    pub(crate) fn sleepers(&self) -> u32 {
        self.0.sleepers.load(SeqCst)
    }

    /// Wakes the `n` oldest sleepers of `word` (all with `usize::MAX`).
    fn wake(&self, word: &crate::sync::AtomicU32, n: usize) {
        let mut words = self.0.words.lock().unwrap();
        self.0.wakes.fetch_add(1, SeqCst);
        let Words { asleep, woken, .. } = &mut *words;
        if let Some(queue) = asleep.get_mut(&Self::key(word)) {
            let n = n.min(queue.len());
            woken.extend(queue.drain(..n));
        }
        self.0.cond.notify_all();
    }
}

impl crate::wait::Notify for CondvarFutex {
    fn wait(
        &self,
        word: &crate::sync::AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> crate::Result<crate::wait::WaitStatus> {
        use crate::wait::WaitStatus;
        let key = Self::key(word);
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut words = self.0.words.lock().unwrap();
        if word.load(crate::sync::Ordering::Relaxed) != expected {
            return Ok(WaitStatus::Woken);
        }
        let ticket = words.next_ticket;
        words.next_ticket += 1;
        words.asleep.entry(key).or_default().push_back(ticket);
        self.0.sleepers.fetch_add(1, SeqCst);
        let status = loop {
            if words.woken.remove(&ticket) {
                break WaitStatus::Woken;
            }
            words = match deadline {
                None => self.0.cond.wait(words).unwrap(),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        // No longer asleep: a later wake-up goes to others.
                        let queue = words.asleep.get_mut(&key).unwrap();
                        queue.retain(|&t| t != ticket);
                        break WaitStatus::TimedOut;
                    }
                    self.0.cond.wait_timeout(words, deadline - now).unwrap().0
                }
            };
        };
        self.0.sleepers.fetch_sub(1, SeqCst);
        Ok(status)
    }

    fn wake_one(&self, word: &crate::sync::AtomicU32) {
        self.wake(word, 1);
    }

    fn wake_all(&self, word: &crate::sync::AtomicU32) {
        self.wake(word, usize::MAX);
    }

    fn now(&self) -> Option<Duration> {
        Some(std_clock())
    }
}

/// Checks that `$ring`, a ring for sleeping waiters, refuses spinning
/// endpoints of both kinds ([`Error::NotifyMismatch`](crate::Error::NotifyMismatch)).
/// A macro: the rings' handles share no trait.
macro_rules! refuses_spinning_ends {
    ($ring:expr) => {{
        let ring = &$ring;
        let refused = Some($crate::Error::NotifyMismatch);
        assert!(ring.wakes());
        assert_eq!(ring.producer_with($crate::wait::Spin::new()).err(), refused);
        assert_eq!(ring.consumer_with($crate::wait::Spin::new()).err(), refused);
    }};
}
pub(crate) use refuses_spinning_ends;

/// Both ends of a waking SPSC-family ring, sleeping through one
/// [`CondvarFutex`], after checking that spinning ends are refused
/// ([`Error::NotifyMismatch`](crate::Error::NotifyMismatch)).
#[allow(clippy::type_complexity)]
pub(crate) fn waking_ends<'a, L: crate::spsc::SpscLayout>(
    ring: &crate::place::Placed<'a, L>,
) -> (
    crate::spsc::Endpoint<'a, L, CondvarFutex, true>,
    crate::spsc::Endpoint<'a, L, CondvarFutex, false>,
) {
    refuses_spinning_ends!(ring);
    let futex = CondvarFutex::default();
    let tx = ring.producer_with(futex.clone()).unwrap();
    (tx, ring.consumer_with(futex).unwrap())
}

/// Checks that a ring of layout `L` in `mem` is refused at attach once its
/// header's flags word says `flags` (bits the layout does not define).
pub(crate) fn refuses_flags<L: crate::place::Layout>(mem: &PeerMemory, flags: u32) {
    mem.word(36).store(flags, SeqCst);
    assert_eq!(
        crate::place::Placed::<L>::attach(mem.region()).unwrap_err(),
        crate::Error::Corrupted("flags in header")
    );
}

/// What a region should hold, byte for byte, on a little-endian machine
/// (the golden-bytes tests): zeros but for the header and the words set.
pub(crate) struct Golden(Vec<u8>);

impl Golden {
    /// `len` bytes starting with a ready header (the header table of the
    /// crate's docs) of the given kind code, element size and alignment,
    /// capacity, data offset and flags.
    pub(crate) fn ready(len: usize, kind: u32, elem: (u32, u32), capacity: u32, data: u32) -> Self {
        let mut golden = Self(std::vec![0; len]);
        golden.0[..16].copy_from_slice(&[
            b'I', b'P', b'C', b'K', // magic
            1, 0, 0, 0, // layout version
            0, 0, 0, 0, // kind (below)
            4, 3, 2, 1, // endianness marker 0x01020304, little-endian
        ]);
        golden
            .word(8, kind)
            .word(16, 2) // state: ready
            .word(20, elem.0)
            .word(24, elem.1)
            .word(28, capacity)
            .word(32, data)
    }

    /// The little-endian `value` at byte `offset`.
    pub(crate) fn word(mut self, offset: usize, value: u32) -> Self {
        self.0[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        self
    }

    /// Checks the bytes of `mem` against these (on a little-endian machine
    /// only: elsewhere the same words are stored big-endian).
    pub(crate) fn check(&self, mem: &PeerMemory) {
        if cfg!(target_endian = "little") {
            assert_eq!(mem.bytes(self.0.len()), self.0);
        }
    }
}

/// Marsaglia's xorshift32 from `seed` (not 0): the tests' cheap, repeatable
/// pseudo-random numbers, one state after another, without end.
pub(crate) fn xorshift(seed: u32) -> impl Iterator<Item = u32> {
    core::iter::successors(Some(seed), |&x| {
        let x = x ^ (x << 13);
        let x = x ^ (x >> 17);
        Some(x ^ (x << 5))
    })
    .skip(1)
}

/// Runs `receive(round)` `rounds` times while a peer thread calls
/// `forge` (with its own xorshift numbers) without pause (`receive` may
/// forge too, between its steps); tallies the answers: an item (`Ok`),
/// `Empty`, a lag (never 0 nor more than 2^31) or `Corrupted`. Anything
/// else fails, and a failure stops the forger (the test fails instead of
/// waiting for it). Returns the four counts.
pub(crate) fn under_forger<T>(
    rounds: usize,
    forge: impl Fn(&mut dyn Iterator<Item = u32>) + Sync,
    mut receive: impl FnMut(usize) -> crate::Result<T>,
) -> [u32; 4] {
    use std::sync::atomic::AtomicBool;

    /// Stops the forger however the receiving loop ends.
    struct Stop<'s>(&'s AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let stop = AtomicBool::new(false);
    let mut answers = [0u32; 4];
    std::thread::scope(|s| {
        let (stop, forge) = (&stop, &forge);
        s.spawn(move || {
            let mut rng = xorshift(0x9ABC_DEF1);
            while !stop.load(SeqCst) {
                forge(&mut rng);
                std::thread::yield_now();
            }
        });
        let _stop = Stop(stop);
        for round in 0..rounds {
            let answer = match receive(round) {
                Ok(_) => 0,
                Err(crate::Error::Empty) => 1,
                Err(crate::Error::Lagged(n)) => {
                    assert!(n > 0 && n <= 1 << 31);
                    2
                }
                Err(crate::Error::Corrupted(_)) => 3,
                Err(e) => panic!("{e}"),
            };
            answers[answer] += 1;
        }
    });
    answers
}
