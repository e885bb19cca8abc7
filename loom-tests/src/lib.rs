//! loom models of ipckit-core; the models are in `tests/`.
//!
//! This library holds what several models share: a futex emulation that
//! implements the core's [`Notify`](ipckit_core::wait::Notify) on loom's
//! mutex and condition variable, so that the event count of
//! `ipckit_core::wait` is checked with waiters that really sleep (a lost
//! wake-up then shows as a loom deadlock).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p ipckit-loom-tests --release`.

#[cfg(loom)]
mod futex_emulation {
    use core::time::Duration;

    use ipckit_core::Result;
    use ipckit_core::wait::{Notify, WaitStatus};
    use loom::sync::atomic::{AtomicU32, Ordering};
    use loom::sync::{Arc, Condvar, Mutex};

    /// A futex made of a mutex and a condition variable, as a kernel does
    /// it: `wait` checks the word under the lock and sleeps atomically with
    /// releasing it; `wake` takes the lock, so it cannot slip between the
    /// check and the sleep. One emulation stands for one futex word (a
    /// model uses one per word, or accepts waking waiters of other words).
    #[derive(Clone)]
    pub struct LoomFutex(Arc<(Mutex<()>, Condvar)>);

    impl LoomFutex {
        /// A futex with no waiters.
        pub fn new() -> Self {
            Self(Arc::new((Mutex::new(()), Condvar::new())))
        }
    }

    impl Default for LoomFutex {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Notify for LoomFutex {
        const WAKES: bool = true;

        fn wait(
            &self,
            word: &AtomicU32,
            expected: u32,
            _timeout: Option<Duration>,
        ) -> Result<WaitStatus> {
            let guard = self.0.0.lock().unwrap();
            if word.load(Ordering::Relaxed) != expected {
                return Ok(WaitStatus::Woken);
            }
            drop(self.0.1.wait(guard).unwrap());
            Ok(WaitStatus::Woken)
        }

        fn wake_one(&self, _word: &AtomicU32) {
            let _guard = self.0.0.lock().unwrap();
            self.0.1.notify_one();
        }

        fn wake_all(&self, _word: &AtomicU32) {
            let _guard = self.0.0.lock().unwrap();
            self.0.1.notify_all();
        }
    }
}

#[cfg(loom)]
pub use futex_emulation::LoomFutex;
