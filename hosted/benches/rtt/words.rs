//! The two word variants: `raw/futex` (two shared words, `FUTEX_WAIT` /
//! `FUTEX_WAKE`: the kernel floor) and `raw/cache_line` (the same words,
//! each side spinning until its word changes: the hardware floor).

use std::hint::spin_loop;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use ipckit::shm::SharedMapping;

use crate::WAIT_SLICE;
use crate::child::{Child, EXIT_OK, Stall, fork_pinned};
use crate::session::{Pinger, leaked_mapping};

/// Offsets of the two words of the raw futex and cache-line variants:
/// requests (parent → child) and replies (child → parent), a [`LINE`] apart.
///
/// [`LINE`]: ipckit::region::LINE
const REQUEST_WORD: usize = 0;
const REPLY_WORD: usize = ipckit::region::LINE;

/// A relative timeout of [`WAIT_SLICE`] for `FUTEX_WAIT`.
const SLICE_TIMESPEC: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: WAIT_SLICE.as_nanos() as libc::c_long,
};

/// `FUTEX_WAIT` (shared) while `word` holds `expected`, at most
/// [`WAIT_SLICE`]. `false` when it timed out.
fn futex_wait(word: &AtomicU32, expected: u32) -> bool {
    // SAFETY: `word` is a live, aligned word of a shared mapping; the kernel
    // only reads it; the timeout points to a constant `timespec`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &SLICE_TIMESPEC as *const libc::timespec,
        )
    };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ETIMEDOUT)
}

/// `FUTEX_WAKE` (shared) of one waiter of `word`.
fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned word of a shared mapping; the kernel
    // only uses its address as a key.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
}

/// A 32-bit word of a mapping, accessed atomically.
fn word(mapping: &SharedMapping, offset: usize) -> &AtomicU32 {
    assert!(offset % 4 == 0 && offset + 4 <= mapping.len());
    // SAFETY: in bounds and 4-aligned (the base is page-aligned); the bytes
    // are only ever accessed through atomics, by both processes, and the
    // mapping outlives the reference.
    unsafe { AtomicU32::from_ptr(mapping.as_ptr().add(offset).cast()) }
}

/// The request word of the word-based variants for sequence number `seq`:
/// never 0 (the initial value) nor `u32::MAX` (stop).
#[inline(always)]
fn seq_word(seq: u64) -> u32 {
    (seq % u64::from(u32::MAX - 1)) as u32 + 1
}
const STOP_WORD: u32 = u32::MAX;

/// Two words in one mapping; with `futex`, each side sleeps on its word.
pub struct WordPinger {
    request: &'static AtomicU32,
    reply: &'static AtomicU32,
    futex: bool,
}

/// The child's side of the word variants.
fn words_echo(request: &AtomicU32, reply: &AtomicU32, futex: bool) -> i32 {
    let mut last = 0;
    loop {
        let r = request.load(Ordering::Acquire);
        if r == last {
            if futex {
                futex_wait(request, r);
            } else {
                spin_loop();
            }
            continue;
        }
        reply.store(r, Ordering::Release);
        if futex {
            futex_wake(reply);
        }
        if r == STOP_WORD {
            return EXIT_OK;
        }
        last = r;
    }
}

impl WordPinger {
    pub fn start(futex: bool) -> Result<(Self, Child), String> {
        let mapping = leaked_mapping(4096)?;
        let (request, reply) = (word(mapping, REQUEST_WORD), word(mapping, REPLY_WORD));
        // SAFETY: `words_echo` makes atomic accesses and futex system calls
        // only.
        let child = unsafe { fork_pinned(|| words_echo(request, reply, futex))? };
        Ok((
            Self {
                request,
                reply,
                futex,
            },
            child,
        ))
    }
}

impl Pinger for WordPinger {
    #[inline]
    fn round_trip(&mut self, seq: u64, child: &mut Child) -> Result<(), String> {
        let w = seq_word(seq);
        let mut stall = Stall::new();
        self.request.store(w, Ordering::Release);
        if self.futex {
            futex_wake(self.request);
            loop {
                let got = self.reply.load(Ordering::Acquire);
                if got == w {
                    return Ok(());
                }
                if !futex_wait(self.reply, got) {
                    stall.check(child)?;
                }
            }
        } else {
            loop {
                let got = self.reply.load(Ordering::Acquire);
                if got == w {
                    return Ok(());
                }
                stall.poll(child)?;
            }
        }
    }

    fn stop(&mut self) -> Result<(), String> {
        self.request.store(STOP_WORD, Ordering::Release);
        if self.futex {
            futex_wake(self.request);
        }
        Ok(())
    }
}
