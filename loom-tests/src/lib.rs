//! loom models of ipckit-core; the models are in `tests/`.
//!
//! This library holds what several models share: a futex emulation that
//! implements the core's [`Notify`](ipckit_core::wait::Notify) on loom's
//! mutex and condition variable, so that the event count of
//! `ipckit_core::wait` is checked with waiters that really sleep (a lost
//! wake-up then shows as a loom deadlock).
//!
//! Run with `RUSTFLAGS="--cfg ipckit_loom" cargo test -p ipckit-loom-tests --release`.

#[cfg(ipckit_loom)]
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
    pub struct LoomFutex(Arc<(Mutex<()>, Condvar)>, bool);

    impl LoomFutex {
        /// A futex with no waiters.
        pub fn new() -> Self {
            Self(Arc::new((Mutex::new(()), Condvar::new())), false)
        }

        /// One emulation for the waiters of several words, whose
        /// `wake_one` wakes every waiter: a waiter of the word woken must
        /// be among them (as a kernel futex keyed by the word guarantees),
        /// and the others re-check and sleep again. For a model whose
        /// endpoints sleep on different words and wake each other's (the
        /// broadcast ring's publisher and members).
        pub fn for_several_words() -> Self {
            Self(Arc::new((Mutex::new(()), Condvar::new())), true)
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
            if self.1 {
                self.0.1.notify_all();
            } else {
                self.0.1.notify_one();
            }
        }

        fn wake_all(&self, _word: &AtomicU32) {
            let _guard = self.0.0.lock().unwrap();
            self.0.1.notify_all();
        }
    }
}

#[cfg(ipckit_loom)]
pub use futex_emulation::LoomFutex;

#[cfg(ipckit_loom)]
mod harness {
    use std::fmt::Debug;

    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, Ordering};

    /// A value that outlives the model's threads (what endpoints borrow for
    /// `'static`: intents, counters).
    pub fn leak<T>(t: T) -> &'static T {
        Box::leak(Box::new(t))
    }

    /// Whether `of` of the model's other threads finished (counted in
    /// `count`), so that a spinning thread takes one last look after all of
    /// them and then stops.
    pub fn finished(count: &loom::sync::atomic::AtomicU32, of: u32) -> bool {
        count.load(Ordering::Acquire) == of
    }

    /// Runs `f` under loom with `bound` preemptions (unless the environment
    /// sets `LOOM_MAX_PREEMPTIONS`, which then wins, to run a deeper check by
    /// hand), and prints how many executions loom explored and how long that
    /// took (visible with `--nocapture`).
    pub fn model<F>(bound: usize, f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(bound);
        }
        let bound = builder.preemption_bound;
        let executions = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = executions.clone();
        let started = std::time::Instant::now();
        builder.check(move || {
            counter.fetch_add(1, Relaxed);
            f();
        });
        eprintln!(
            "{}: {} executions, preemption bound {bound:?}, {:.1} s",
            std::thread::current().name().unwrap_or("model"),
            executions.load(Relaxed),
            started.elapsed().as_secs_f64()
        );
    }

    /// Set by a producer thread once it has published everything, so that a
    /// consumer still waiting after that fails with a clear message (an item
    /// was lost) instead of spinning until loom's branch limit.
    #[derive(Clone)]
    pub struct Done(Arc<AtomicBool>);

    impl Done {
        /// Not yet done.
        #[allow(clippy::new_without_default)] // loom objects live in a model
        pub fn new() -> Self {
            Self(Arc::new(AtomicBool::new(false)))
        }

        /// The producer has published everything.
        pub fn set(&self) {
            self.0.store(true, Ordering::Release);
        }

        /// The consumer's side: see [`Waiter::empty`].
        pub fn waiter(&self) -> Waiter {
            Waiter {
                done: self.clone(),
                last_chance: false,
            }
        }
    }

    /// What a consumer does when the ring looked empty while it still
    /// expects items.
    pub struct Waiter {
        done: Done,
        last_chance: bool,
    }

    impl Waiter {
        /// Yields while the producer is running. Once the producer has
        /// finished, allows one more look (ordered after its last publication
        /// by the Acquire load of [`Done`]) and fails if that finds the ring
        /// empty too.
        pub fn empty(&mut self, context: impl Debug) {
            assert!(
                !self.last_chance,
                "the producer has finished but the ring stays empty: an item was lost ({context:?})"
            );
            if self.done.0.load(Ordering::Acquire) {
                self.last_chance = true;
            } else {
                loom::thread::yield_now();
            }
        }
    }
}

#[cfg(ipckit_loom)]
pub use harness::{Done, Waiter, finished, leak, model};
