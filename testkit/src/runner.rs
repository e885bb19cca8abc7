//! The test runner of the cross-process test binaries (`harness = false`):
//! [libtest-mimic], so `cargo test --test X -- name` filters, lists and
//! prints as libtest does (`--exact`, `--list`, `--skip`, `--ignored`,
//! `--nocapture`, `-q`, the `test result:` line), always on one thread.
//!
//! One thread, because [`fork_child`](crate::process::fork_child) refuses
//! to fork a multi-threaded process: a child forked while another thread
//! holds the allocator's lock would deadlock in its first allocation. The
//! runner therefore overrides `--test-threads` and runs every test on the
//! main thread, which libtest-mimic does when it is given one thread.
//!
//! A test returns `Ok` with a note (or `()`) or `Err` with what failed; a
//! panic in the parent fails the test too. The note and the test's time are
//! printed on its line: `test stream ... [2.10 s: 1000000 frames] ok`.
//! Checks registered with [`Suite::after_each`] (say, nothing left behind in
//! `/dev/shm`: [`Suite::leftovers_checked`]) run after every test and fail
//! it when they find something.
//!
//! ```no_run
//! use ipckit_testkit::runner::Suite;
//!
//! fn round_trip() -> Result<String, String> {
//!     Ok("3 messages".to_string())
//! }
//!
//! fn main() {
//!     Suite::new()
//!         .tests([("round trip", round_trip)])
//!         .leftovers_checked()
//!         .run()
//!         .exit();
//! }
//! ```
//!
//! [libtest-mimic]: https://docs.rs/libtest-mimic

use std::cell::RefCell;
use std::io::Write;
use std::time::Instant;

use libtest_mimic::{Arguments, Conclusion, FormatSetting, Trial};

/// What a passing test reports: nothing, or a note for its line.
pub trait Note {
    /// The note (empty: none).
    fn note(self) -> String;
}

impl Note for () {
    fn note(self) -> String {
        String::new()
    }
}

impl Note for String {
    fn note(self) -> String {
        self
    }
}

/// A test: `Ok` with a note (or `()`), or `Err` with what failed.
pub type TestFn<T = String> = fn() -> Result<T, String>;

type Body = Box<dyn FnOnce() -> Result<String, String>>;
type Check = Box<dyn Fn() -> Result<(), String>>;

/// The tests of one binary and the checks run after each.
#[derive(Default)]
pub struct Suite {
    tests: Vec<(String, Body)>,
    after_each: Vec<(String, Check)>,
}

thread_local! {
    /// The bodies and checks of the running suite, on the main thread: a
    /// libtest-mimic trial must be `Send`, test bodies need not be (they
    /// capture handles, `Rc`s, boxed closures), and they never leave the
    /// main thread, so each trial carries only its index into this table.
    static RUNNING: RefCell<Running> = RefCell::default();
}

#[derive(Default)]
struct Running {
    bodies: Vec<Option<Body>>,
    after_each: Vec<(String, Check)>,
    notes: bool,
}

impl Suite {
    /// No tests yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one test (after those added before: tests run in that order).
    pub fn test<T: Note>(
        self,
        name: impl AsRef<str>,
        body: impl FnOnce() -> Result<T, String> + 'static,
    ) -> Self {
        self.tests([(name, body)])
    }

    /// Adds tests, in the order given (the order they run in).
    pub fn tests<S, F, T>(mut self, tests: impl IntoIterator<Item = (S, F)>) -> Self
    where
        S: AsRef<str>,
        F: FnOnce() -> Result<T, String> + 'static,
        T: Note,
    {
        for (name, body) in tests {
            let body: Body = Box::new(move || body().map(Note::note));
            self.tests.push((name.as_ref().to_string(), body));
        }
        self
    }

    /// Runs `check` after every test (passed or failed); its `Err` fails the
    /// test with "`what`: `<message>`".
    pub fn after_each(
        mut self,
        what: &str,
        check: impl Fn() -> Result<(), String> + 'static,
    ) -> Self {
        self.after_each.push((what.to_string(), Box::new(check)));
        self
    }

    /// After every test, fails it if files of this run are left in
    /// `/dev/shm` or the temp directory ([`leftovers`]), and removes them.
    ///
    /// [`leftovers`]: crate::objects::leftovers
    pub fn leftovers_checked(self) -> Self {
        self.after_each("left behind (now removed)", || {
            let left = crate::objects::leftovers();
            for path in &left {
                let _ = std::fs::remove_file(path);
            }
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        })
    }

    /// After every test, fails it if POSIX message queues or named
    /// semaphores of this run are left ([`queue_leftovers`]).
    ///
    /// [`queue_leftovers`]: crate::objects::queue_leftovers
    pub fn queue_leftovers_checked(self) -> Self {
        self.after_each("queues or named semaphores left behind", || {
            let left = crate::objects::queue_leftovers();
            match left.is_empty() {
                true => Ok(()),
                false => Err(format!("{left:?}")),
            }
        })
    }

    /// Runs the tests the command line selects, on this (the main) thread,
    /// and prints libtest's summary. Call [`Conclusion::exit`] on the
    /// result, after printing anything the suite adds.
    pub fn run(self) -> Conclusion {
        let mut args = Arguments::from_args();
        if args.test_threads.is_some_and(|n| n != 1) {
            eprintln!(
                "note: these tests fork; they run on one thread whatever --test-threads says"
            );
        }
        args.test_threads = Some(1);
        let notes = !args.quiet && matches!(args.format, None | Some(FormatSetting::Pretty));
        let mut trials = Vec::with_capacity(self.tests.len());
        let mut bodies = Vec::with_capacity(self.tests.len());
        for (i, (name, body)) in self.tests.into_iter().enumerate() {
            bodies.push(Some(body));
            trials.push(Trial::test(name, move || run_one(i).map_err(Into::into)));
        }
        RUNNING.with(|r| {
            *r.borrow_mut() = Running {
                bodies,
                after_each: self.after_each,
                notes,
            }
        });
        let conclusion = libtest_mimic::run(&args, trials);
        RUNNING.with(|r| *r.borrow_mut() = Running::default());
        conclusion
    }
}

/// Runs test `i` of [`RUNNING`] and the checks after it.
fn run_one(i: usize) -> Result<(), String> {
    let (body, notes) = RUNNING.with(|r| {
        let mut r = r.borrow_mut();
        let notes = r.notes;
        (r.bodies.get_mut(i).and_then(Option::take), notes)
    });
    let body = body.ok_or("the runner lost this test (run off the main thread?)")?;
    let started = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .unwrap_or_else(|_| Err("panicked in the parent".to_string()));
    let secs = started.elapsed().as_secs_f64();
    let mut failures: Vec<String> = result.as_ref().err().cloned().into_iter().collect();
    RUNNING.with(|r| {
        for (what, check) in &r.borrow().after_each {
            if let Err(msg) = check() {
                failures.push(format!("{what}: {msg}"));
            }
        }
    });
    if !failures.is_empty() {
        return Err(failures.join("\n"));
    }
    if notes {
        // On the test's line, between libtest's `... ` and its `ok`.
        match result.unwrap_or_default() {
            note if note.is_empty() => print!("[{secs:.2} s] "),
            note => print!("[{secs:.2} s: {note}] "),
        }
        let _ = std::io::stdout().flush();
    }
    Ok(())
}
