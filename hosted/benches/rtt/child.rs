//! The echo child: forked (with testkit's async-signal-safe fork, as
//! criterion's threads may exist) and pinned to the peer CPU, and the
//! parent's look at it while it waits for a reply.

use std::hint::spin_loop;
use std::time::{Duration, Instant};

use ipckit_testkit::pin;
use ipckit_testkit::process::fork_async_signal_safe;
pub use ipckit_testkit::process::{Child, EXIT_IO_ERROR, EXIT_OK, EXIT_RING_ERROR};

/// A live child that does not answer for this long fails the benchmark.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Fruitless polls between two looks at the clock in spinning loops.
const POLLS_PER_CHECK: u32 = 1 << 16;

/// Forks a child that pins itself to the child CPU, runs `body` and
/// `_exit`s with the code it returns.
///
/// # Safety
/// `body` may only make async-signal-safe calls (see the crate docs): it
/// runs in a copy of a possibly multi-threaded process.
pub unsafe fn fork_pinned(body: impl FnOnce() -> i32) -> Result<Child, String> {
    // SAFETY: `pin_peer` only makes a system call (the pair was chosen
    // before the first fork, so it allocates nothing) and `body` is
    // async-signal-safe by this function's contract.
    unsafe {
        fork_async_signal_safe(|| {
            // Unpinned is still correct, only slower and noisier.
            pin::pin_peer();
            body()
        })
    }
}

/// Counts fruitless polls; every [`POLLS_PER_CHECK`]th one (or every call,
/// for blocking loops) looks at the child and the clock.
pub struct Stall {
    polls: u32,
    since: Option<Instant>,
}

impl Stall {
    pub fn new() -> Self {
        Self {
            polls: 0,
            since: None,
        }
    }

    /// For spinning loops: a spin hint, and now and then a check.
    #[inline(always)]
    pub fn poll(&mut self, child: &mut Child) -> Result<(), String> {
        self.polls = self.polls.wrapping_add(1);
        if self.polls % POLLS_PER_CHECK != 0 {
            spin_loop();
            return Ok(());
        }
        self.check(child)
    }

    /// For blocking loops, after a wait that timed out. `Err` if the child
    /// has ended (it must echo until told to stop) or has been silent for
    /// [`STALL_LIMIT`].
    #[cold]
    pub fn check(&mut self, child: &mut Child) -> Result<(), String> {
        if let Some(exit) = child.try_wait()? {
            return Err(format!("the child died ({exit})"));
        }
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        if now - since > STALL_LIMIT {
            return Err(format!("no reply for {STALL_LIMIT:?} from a live child"));
        }
        Ok(())
    }
}
