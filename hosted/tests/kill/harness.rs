//! The parent of one kind's run: forks the workers, kills them at chosen
//! instants, reaps and restarts them, watches for hangs, and at the end
//! drains the channel and hands over to the [verdict](verdict).
//!
//! A strike kills one child ([`strike`]):
//! - `Run`: a child sending or receiving, after a random delay (0-20 ms);
//! - `Inside`: a child inside a send or receive call of the library;
//! - `Open`, `Claim`, `TakeOver`: a fresh child (its predecessor killed,
//!   or made to drop its endpoint and exit, as the phase needs) inside that
//!   phase; `Drop`: a child made to drop its endpoint, while it drops;
//! - `Random`: a fresh child, 0-3 ms after its fork, wherever it is.
//!
//! The aimed strikes kill in one of two ways. The child arms a one-shot
//! `CLOCK_MONOTONIC` timer that SIGKILLs it a random delay into the phase
//! (drawn from 0 to 1.25 times how long the phase last took; at most 20 µs
//! into a call), so the kill lands inside even a phase a few microseconds
//! long whatever the load: the only way for `Inside`, two strikes in three
//! for the others. Or the harness spins on the child's phase word and
//! kills it once it shows the phase (plus 0-40 µs half the time).
//!
//! Every kill is counted in the phase the child had written last, read
//! after it was reaped.

pub mod gaps;
mod strike;
mod topic_verdict;
mod verdict;

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use ipckit::channel;

use crate::child::{self, LIMIT};
use crate::kinds::{self, Kind};
use crate::side::*;
use crate::support::{Child, Ctx, Exit, Rng, ShmGuard, fork_main};

/// How much later than [`LIMIT`] the harness itself declares a phase or a
/// call hung (the child's own check, with the better message, comes first).
const GRACE: Duration = Duration::from_secs(2);
/// Events kept for a failure report.
const LOG_LEN: usize = 16;

#[derive(Default)]
struct Stats {
    kills: u64,
    by_column: [u64; COLUMNS.len()],
    /// Kills by a timer the child armed.
    timer_kills: u64,
    in_flight: u64,
    recv_call_kills: u64,
    completed: u64,
    clean_exits: u64,
    missed: u64,
}

/// One kind's run.
struct Harness<'a> {
    kind: Kind,
    name: &'a str,
    side: &'a Side,
    seed: u64,
    rng: Rng,
    producers: usize,
    workers: usize,
    kids: Vec<Option<Child>>,
    generations: Vec<u64>,
    forked: Vec<Instant>,
    /// The timer aim for the worker's next child.
    next_aim: Vec<Option<(Phase, u64)>>,
    st: Stats,
    /// Messages whose producer was killed with the send in flight.
    uncertain: HashSet<(usize, u64)>,
    /// Each kill of a consumer inside a receive call: per producer, the
    /// next number it expected and the producer's `SENT`.
    snaps: Vec<gaps::CallKill>,
    log: VecDeque<String>,
    progress: (u64, Instant),
    last_watch: Instant,
    final_stage: bool,
    started: Instant,
    /// Print every kill (`IPCKIT_KILL_VERBOSE=1`).
    verbose: bool,
}

/// Runs `kind` (the `index`th) with `kills` kills from the suite's `seed`;
/// the report line, or what failed.
pub fn run_kind(kind: Kind, index: u64, kills: u64, seed: u64) -> Result<String, String> {
    let guard = ShmGuard::new(kind.name());
    kind.create(&guard.0).ctx("create")?;
    let side = Side::new()?;
    let now = Instant::now();
    let workers = kind.producers() + kind.consumers();
    let mut h = Harness {
        kind,
        name: &guard.0,
        side: &side,
        seed,
        rng: Rng(kinds::mix(seed ^ index) | 1),
        producers: kind.producers(),
        workers,
        kids: (0..workers).map(|_| None).collect(),
        generations: vec![0; workers],
        forked: vec![now; workers],
        next_aim: vec![None; workers],
        st: Stats::default(),
        uncertain: HashSet::new(),
        snaps: Vec::new(),
        log: VecDeque::new(),
        progress: (0, now),
        last_watch: now,
        final_stage: false,
        started: now,
        verbose: std::env::var("IPCKIT_KILL_VERBOSE").is_ok_and(|v| v == "1"),
    };
    let result = h.run(kills);
    // Children still running (after a failure) are killed and reaped here.
    drop(h);
    result.map_err(|e| format!("IPCKIT_KILL_SEED={seed:#x}: {e}"))
}

impl Harness<'_> {
    fn run(&mut self, kills: u64) -> Result<String, String> {
        for w in 0..self.workers {
            self.spawn(w)?;
        }
        let rotation = strike::rotation()?;
        let mut turn = 0;
        while self.st.kills < kills {
            let target = rotation[turn % rotation.len()];
            turn += 1;
            self.strike(target)?;
        }
        self.finish()?;
        self.verdict()
    }

    fn producer(&self, w: usize) -> bool {
        w < self.producers
    }

    fn who(&self, w: usize) -> String {
        let (role, i) = if self.producer(w) {
            ("producer", w)
        } else {
            ("consumer", w - self.producers)
        };
        format!("{role} {i} gen {}", self.generations[w])
    }

    fn note(&mut self, event: String) {
        if self.log.len() == LOG_LEN {
            self.log.pop_front();
        }
        let t = self.started.elapsed().as_secs_f64();
        if self.verbose {
            println!("  {t:8.3} s  {event}");
        }
        self.log.push_back(format!("{t:8.3} s  {event}"));
    }

    // -----------------------------------------------------------------------
    // Children.

    fn spawn(&mut self, w: usize) -> Result<(), String> {
        self.generations[w] += 1;
        let budget = if self.rng.next() % 4 == 0 {
            self.rng.next() % 3000
        } else {
            u64::MAX
        };
        let side = self.side;
        side.put(w, W_BUDGET, budget);
        side.start(w, self.next_aim[w].take());
        let ctx = child::Ctx {
            kind: self.kind,
            name: self.name,
            side,
            w,
            generation: self.generations[w],
            seed: self.seed,
            rng: self.rng.next(),
        };
        let kid = fork_main(move || child::worker(ctx))?;
        side.put(w, W_PID, kid.pid as u64);
        if self.verbose {
            let g = self.generations[w];
            self.note(format!(
                "spawn worker {w} gen {g} pid {} sent {}",
                kid.pid,
                side.get(w, W_SENT)
            ));
        }
        self.kids[w] = Some(kid);
        self.forked[w] = Instant::now();
        Ok(())
    }

    /// A child of `w` exited 0: checks it finished cleanly and restarts the
    /// worker (not a producer once the run is finishing).
    fn exited(&mut self, w: usize) -> Result<(), String> {
        self.kids[w] = None;
        self.st.clean_exits += 1;
        let phase = self.side.phase(w);
        if phase != Some(Phase::Done) {
            return Err(self.failure(&format!("{} exited 0 in phase {phase:?}", self.who(w))));
        }
        let (sent, committed) = (self.side.get(w, W_SENT), self.side.get(w, W_COMMITTED));
        // Committed up to its last number, or every number after the last
        // committed one was in flight in a predecessor that was killed
        // (two generations in a row can be killed mid-send: each leaves
        // one number, and the next resumes after it).
        let settled = (committed..sent).all(|n| self.uncertain.contains(&(w, n)));
        if self.producer(w) && !settled {
            return Err(self.failure(&format!("{} exited with a send in flight", self.who(w))));
        }
        self.note(format!("{} dropped its endpoint and exited", self.who(w)));
        if !(self.final_stage && self.producer(w)) {
            self.spawn(w)?;
        }
        Ok(())
    }

    /// Reaps children that ended: restarts those that exited cleanly,
    /// accounts for those their timer killed, fails on any other end. Then
    /// runs the watchdog.
    fn service(&mut self) -> Result<(), String> {
        for w in 0..self.workers {
            let Some(kid) = self.kids[w].as_mut() else {
                continue;
            };
            match kid.try_wait()? {
                None => {}
                Some(Exit::Code(0)) => self.exited(w)?,
                Some(Exit::Signal(libc::SIGKILL)) if self.side.get(w, W_ARMED) != 0 => {
                    let aim = Phase::from_code(self.side.get(w, W_AIM));
                    self.st.timer_kills += 1;
                    self.killed(w, &format!("its timer aimed at {aim:?}"))?;
                }
                Some(other) => {
                    return Err(self.failure(&format!(
                        "{} ended with {other} (its message is above)",
                        self.who(w)
                    )));
                }
            }
        }
        self.watchdog()
    }

    /// Fails when nothing moved for [`LIMIT`], or a child sits in one
    /// phase or call longer than [`LIMIT`] (plus [`GRACE`]).
    fn watchdog(&mut self) -> Result<(), String> {
        let now = Instant::now();
        if now < self.last_watch + Duration::from_millis(2) {
            return Ok(());
        }
        self.last_watch = now;
        let ops = (0..self.workers).map(|w| self.side.get(w, W_OPS)).sum();
        if ops != self.progress.0 {
            self.progress = (ops, now);
        }
        let drained = self.final_stage
            && (self.producers..self.workers).all(|w| self.side.phase(w) == Some(Phase::Finished));
        if !drained && now > self.progress.1 + LIMIT + GRACE {
            let at = (self.progress.1 - self.started).as_secs_f64();
            return Err(self.failure(&format!(
                "no message moved for {:?} (the last one at {at:.3} s)",
                LIMIT + GRACE
            )));
        }
        let t = now_ns();
        let limit = (LIMIT + GRACE).as_nanos() as u64;
        for w in 0..self.workers {
            if self.kids[w].is_none() {
                continue;
            }
            let (since, what) = match self.side.phase(w) {
                Some(Phase::Run | Phase::Finished) => continue,
                Some(Phase::Call) => (self.side.get(w, W_CALL_AT), "a call"),
                _ => (self.side.get(w, W_PHASE_AT), "its phase"),
            };
            if since != 0 && t.saturating_sub(since) > limit {
                return Err(self.failure(&format!(
                    "{} stayed in {what} for over {:?}",
                    self.who(w),
                    LIMIT + GRACE
                )));
            }
        }
        Ok(())
    }

    /// Everything known, for a failure: the workers, the channel as
    /// `ipckit ls` sees it, the last events.
    fn failure(&mut self, what: &str) -> String {
        let mut s = format!(
            "{what}\n    {} after {} kills, {:.1} s",
            self.kind.name(),
            self.st.kills,
            self.started.elapsed().as_secs_f64()
        );
        let t = now_ns();
        for w in 0..self.workers {
            let side = self.side;
            let secs = |f| t.saturating_sub(side.get(w, f)) as f64 / 1e9;
            let call = match side.get(w, W_CALL_AT) {
                0 => "no call yet".to_string(),
                _ => format!("last call started {:.2} s ago", secs(W_CALL_AT)),
            };
            let state = match self.kids[w].as_mut() {
                Some(kid) => kid.describe(),
                None => "no child".into(),
            };
            let progress = if self.producer(w) {
                format!(
                    "sent {} committed {}",
                    side.get(w, W_SENT),
                    side.get(w, W_COMMITTED)
                )
            } else {
                let next: Vec<u64> = (0..self.producers)
                    .map(|p| side.get(w, W_LAST + p))
                    .collect();
                format!(
                    "next expected per producer {next:?}, units {}",
                    side.get(w, W_TAKEN)
                )
            };
            s += &format!(
                "\n    {} pid {}: phase {:?} for {:.2} s ({call}), {progress}; {state}",
                self.who(w),
                side.get(w, W_PID),
                side.phase(w),
                secs(W_PHASE_AT),
            );
        }
        if self.kind.is_channel() {
            match channel::inspect(self.name) {
                Ok(info) => {
                    // The live slots, and how many dead or closed ones.
                    let live: Vec<_> = info.endpoints.iter().filter(|e| e.alive).collect();
                    s += &format!(
                        "\n    channel: {:?}, {} slots used, {} counted alive:",
                        info.status,
                        info.endpoints.len(),
                        live.len()
                    );
                    let few = |role| info.endpoints.iter().filter(|e| e.role == role).count() <= 4;
                    for e in info.endpoints.iter().filter(|e| e.alive || few(e.role)) {
                        let note = if e.alive && !e.process.is_alive() {
                            " (counted alive, but its process is dead)"
                        } else {
                            ""
                        };
                        s += &format!(
                            "\n      {:?} slot {}: {:?} pid {} alive {}{note}",
                            e.role, e.slot, e.state, e.process.pid, e.alive
                        );
                    }
                }
                Err(e) => s += &format!("\n    channel: inspect: {e}"),
            }
        }
        s += "\n    last events:";
        for line in &self.log {
            s += &format!("\n      {line}");
        }
        s
    }

    // -----------------------------------------------------------------------
    // The end.

    fn wait_until(&mut self, cond: impl Fn(&Self) -> bool) -> Result<(), String> {
        while !cond(self) {
            self.service()?;
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    /// Producers finish and exit; consumers drain; then the consumers are
    /// killed holding their endpoints (which leaves a stale channel).
    fn finish(&mut self) -> Result<(), String> {
        self.final_stage = true;
        self.note("stop: producers finish".into());
        self.side.raise(G_STOP);
        let producers = self.producers;
        self.wait_until(|h| h.kids[..producers].iter().all(Option::is_none))?;
        self.note("drain: consumers receive what is left".into());
        self.side.raise(G_DRAIN);
        self.wait_until(|h| {
            (producers..h.workers).all(|w| h.side.phase(w) == Some(Phase::Finished))
        })?;
        for w in producers..self.workers {
            if let Some(mut kid) = self.kids[w].take() {
                kid.kill();
                let exit = kid.try_wait()?;
                if exit != Some(Exit::Signal(libc::SIGKILL)) {
                    return Err(self.failure(&format!("{} ended with {exit:?}", self.who(w))));
                }
            }
        }
        Ok(())
    }
}
