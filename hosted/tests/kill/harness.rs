//! The parent of one kind's run: forks the workers, kills them at chosen
//! instants, reaps and restarts them, watches for hangs, and at the end
//! drains the channel and hands over to the [verdict](verdict).
//!
//! A strike kills one child:
//! - `Run`: a child sending or receiving, after a random delay (0-20 ms);
//! - `Open`, `Claim`, `TakeOver`: a fresh child (its predecessor killed,
//!   or made to drop its endpoint and exit, as the phase needs) inside that
//!   phase; `Drop`: a child made to drop its endpoint, while it drops.
//!   Two ways, in turn at random: the child arms a one-shot
//!   `CLOCK_MONOTONIC` timer that SIGKILLs it a random delay into the
//!   phase (drawn from 0 to 1.25 times how long the phase last took), so
//!   the kill lands inside even a phase of a few microseconds whatever the
//!   load; or the harness spins on the child's phase word and kills it once
//!   it shows the phase (plus 0-40 µs half the time);
//! - `Random`: a fresh child, 0-3 ms after its fork, wherever it is.
//!
//! Every kill is counted in the phase the child had written last, read
//! after it was reaped.

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
/// The longest random wait before a kill of a child that is sending or
/// receiving.
const RUN_DELAY_US: u64 = 20_000;
/// The longest random wait after a fork before an unaimed kill.
const RANDOM_DELAY_US: u64 = 3_000;
/// The longest random wait after a child showed a short phase before the
/// harness kills it; half the kills wait none.
const PHASE_JITTER_US: u64 = 40;
/// The longest timer delay into a send or receive call.
const MAX_CALL_AIM_NS: u64 = 20_000;
/// A timer's delay when the phase's length is not known yet.
const DEFAULT_PHASE_NS: u64 = 50_000;
/// Events kept for a failure report.
const LOG_LEN: usize = 16;

/// What a strike aims at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A child sending or receiving, after a random delay.
    Run,
    /// A child inside a send or receive call, by its timer.
    Inside,
    /// A fresh child opening the object.
    Open,
    /// A fresh child attaching (its role free).
    Claim,
    /// A fresh child taking a dead holder's role over.
    TakeOver,
    /// A child dropping its endpoint.
    Drop,
    /// A fresh child, a random delay after its fork.
    Random,
}

impl Target {
    /// The phase a short-phase target aims at.
    fn phase(self) -> Option<Phase> {
        match self {
            Target::Open => Some(Phase::Open),
            Target::Claim => Some(Phase::Claim),
            Target::TakeOver => Some(Phase::TakeOver),
            Target::Drop => Some(Phase::Drop),
            Target::Inside => Some(Phase::Call),
            Target::Run | Target::Random => None,
        }
    }
}

/// The strikes, in turn.
const ROTATION: [Target; 10] = [
    Target::Run,
    Target::Open,
    Target::Inside,
    Target::Claim,
    Target::Run,
    Target::TakeOver,
    Target::Inside,
    Target::Drop,
    Target::Random,
    Target::Inside,
];

/// [`ROTATION`], or only the strikes `IPCKIT_KILL_AIMS` names (a comma
/// list of `run`, `inside`, `open`, `claim`, `take-over`, `drop`, `random`: to tell
/// which strike trips a failure).
fn rotation() -> Result<Vec<Target>, String> {
    let Ok(list) = std::env::var("IPCKIT_KILL_AIMS") else {
        return Ok(ROTATION.to_vec());
    };
    let names = [
        ("run", Target::Run),
        ("inside", Target::Inside),
        ("open", Target::Open),
        ("claim", Target::Claim),
        ("take-over", Target::TakeOver),
        ("drop", Target::Drop),
        ("random", Target::Random),
    ];
    let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
    if let Some(bad) = wanted.iter().find(|w| !names.iter().any(|(n, _)| n == *w)) {
        return Err(format!("IPCKIT_KILL_AIMS: unknown strike {bad:?}"));
    }
    let r: Vec<Target> = ROTATION
        .into_iter()
        .filter(|t| names.iter().any(|(n, x)| x == t && wanted.contains(n)))
        .collect();
    if r.is_empty() {
        return Err("IPCKIT_KILL_AIMS selects no strike".into());
    }
    Ok(r)
}

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
    /// At each kill of a consumer inside a receive call, per producer: the
    /// next number it expected and the producer's `SENT`.
    snaps: Vec<Vec<(u64, u64)>>,
    log: VecDeque<String>,
    progress: (u64, Instant),
    last_watch: Instant,
    final_stage: bool,
    started: Instant,
    /// Print every kill (`IPCKIT_KILL_VERBOSE=1`).
    verbose: bool,
}

/// Runs `kind` with `kills` kills; the report line, or what failed.
pub fn run_kind(kind: Kind, kills: u64, seed: u64) -> Result<String, String> {
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
        rng: Rng(seed | 1),
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
    result.map_err(|e| format!("seed {seed:#x}: {e}"))
}

impl Harness<'_> {
    fn run(&mut self, kills: u64) -> Result<String, String> {
        for w in 0..self.workers {
            self.spawn(w)?;
        }
        let rotation = rotation()?;
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
        // Committed up to its last number, or it sent none after a
        // predecessor was killed with that number in flight.
        let settled = sent == committed
            || (sent == committed + 1 && self.uncertain.contains(&(w, committed)));
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
                        s += &format!(
                            "\n      {:?} slot {}: {:?} pid {} alive {}",
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
    // Waiting.

    /// Waits (sleeping) until worker `w`'s child sends or receives.
    fn await_steady(&mut self, w: usize) -> Result<(), String> {
        loop {
            if matches!(self.side.phase(w), Some(Phase::Run | Phase::Call)) {
                return Ok(());
            }
            self.service()?;
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Waits `d`, spinning below a millisecond, servicing above.
    fn pause(&mut self, d: Duration) -> Result<(), String> {
        let until = Instant::now() + d;
        if d < Duration::from_millis(1) {
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            return Ok(());
        }
        while Instant::now() < until {
            self.service()?;
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(1)));
        }
        Ok(())
    }

    /// Spins until worker `w`'s child shows `want` (`true`), or went past
    /// it or was replaced (`false`).
    fn spin_for(&mut self, w: usize, want: Phase) -> Result<bool, String> {
        let generation = self.generations[w];
        let mut spins = 0u32;
        loop {
            match self.side.phase(w) {
                Some(p) if p == want => return Ok(true),
                Some(p) if passed(p, want) => return Ok(false),
                _ => {}
            }
            spins = spins.wrapping_add(1);
            if spins % 1024 == 0 {
                self.service()?;
                if self.generations[w] != generation {
                    return Ok(false);
                }
            }
            std::hint::spin_loop();
        }
    }

    /// Waits until worker `w`'s child died by the timer aimed at `want`
    /// (and was replaced), or went past `want` without arming it.
    fn await_timer(&mut self, w: usize, want: Phase) -> Result<bool, String> {
        let (generation, kills) = (self.generations[w], self.st.kills);
        loop {
            self.service()?;
            if self.generations[w] != generation {
                // Killed, or it exited before it armed the timer.
                return Ok(self.st.kills > kills);
            }
            let armed = self.side.get(w, W_ARMED) != 0;
            if !armed && self.side.phase(w).is_some_and(|p| passed(p, want)) {
                self.side.put(w, W_AIM, 0);
                // It may have armed it meanwhile: then it dies soon.
                return Ok(self.side.get(w, W_ARMED) != 0);
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    fn us(&mut self, max: u64) -> Duration {
        Duration::from_micros(self.rng.next() % (max + 1))
    }

    /// A timer delay for `phase` of worker `w`: up to 1.25 times its last
    /// length.
    fn aim_ns(&mut self, w: usize, phase: Phase) -> u64 {
        let mut last = match self.side.get(w, W_DUR + phase as usize) {
            0 => DEFAULT_PHASE_NS,
            d => d,
        };
        if phase == Phase::Call {
            // A call that waited for room or a message says nothing of how
            // long the operation itself takes.
            last = last.min(MAX_CALL_AIM_NS);
        }
        self.rng.next() % (last + last / 4 + 1)
    }

    /// A random worker; `single`: one whose role is held by one endpoint.
    fn pick(&mut self, single: bool) -> usize {
        let kind = self.kind;
        let fits: Vec<usize> = (0..self.workers)
            .filter(|&w| !single || kind.single(w < self.producers))
            .collect();
        fits[(self.rng.next() % fits.len() as u64) as usize]
    }

    fn has_single(&self) -> bool {
        self.kind.single(true) || self.kind.single(false)
    }

    // -----------------------------------------------------------------------
    // Killing.

    /// Replaces worker `w`'s child with a fresh one (with `aim` for its
    /// timer): the old one killed while sending or receiving (`kill`: a
    /// successor that may take over), or made to drop its endpoint and exit
    /// (a successor that attaches).
    fn fresh(&mut self, w: usize, kill: bool, aim: Option<(Phase, u64)>) -> Result<(), String> {
        self.await_steady(w)?;
        self.next_aim[w] = aim;
        if kill {
            let d = self.us(RANDOM_DELAY_US);
            self.pause(d)?;
            return self.kill(w, Target::Run);
        }
        let generation = self.generations[w];
        self.side.put(w, W_BUDGET, 0);
        while self.generations[w] == generation {
            self.service()?;
            std::thread::sleep(Duration::from_micros(50));
        }
        Ok(())
    }

    fn strike(&mut self, target: Target) -> Result<(), String> {
        // Kinds without a single-endpoint role never take over.
        let target = match target {
            Target::TakeOver if !self.has_single() => Target::Claim,
            t => t,
        };
        let Some(phase) = target.phase() else {
            let w = self.pick(false);
            if target == Target::Run {
                self.await_steady(w)?;
                let generation = self.generations[w];
                let d = self.us(RUN_DELAY_US);
                self.pause(d)?;
                if self.generations[w] != generation {
                    // It dropped its endpoint meanwhile: not this one.
                    self.st.missed += 1;
                    return Ok(());
                }
            } else {
                let kill = self.rng.next() % 2 == 0;
                self.fresh(w, kill, None)?;
                let at = self.forked[w] + self.us(RANDOM_DELAY_US);
                self.pause(at.saturating_duration_since(Instant::now()))?;
            }
            return self.kill(w, target);
        };
        let w = self.pick(target == Target::TakeOver);
        let timer = target == Target::Inside || self.rng.next() % 3 != 0;
        let aim = if timer {
            Some((phase, self.aim_ns(w, phase)))
        } else {
            None
        };
        if matches!(target, Target::Drop | Target::Inside) {
            self.await_steady(w)?;
            if let Some((phase, ns)) = aim {
                self.side.put(w, W_AIM_NS, ns);
                self.side.put(w, W_AIM, phase as u64);
            }
            if target == Target::Drop {
                self.side.put(w, W_BUDGET, 0);
            }
        } else {
            // Take-over needs a predecessor killed holding the role; a
            // claim of a single role needs it free (a clean drop).
            let kill = match target {
                Target::TakeOver => true,
                Target::Claim => !self.kind.single(self.producer(w)),
                _ => self.rng.next() % 2 == 0,
            };
            self.fresh(w, kill, aim)?;
        }
        if timer {
            if !self.await_timer(w, phase)? {
                self.st.missed += 1;
            }
            return Ok(());
        }
        if self.spin_for(w, phase)? {
            if self.rng.next() % 2 == 0 {
                let d = self.us(PHASE_JITTER_US);
                self.pause(d)?;
            }
        } else {
            self.st.missed += 1;
        }
        self.kill(w, target)
    }

    /// SIGKILLs worker `w`'s child (aimed at `target`), then
    /// [`killed`](Self::killed).
    fn kill(&mut self, w: usize, target: Target) -> Result<(), String> {
        let Some(kid) = self.kids[w].as_mut() else {
            return Ok(());
        };
        kid.kill();
        match kid.try_wait()? {
            Some(Exit::Signal(libc::SIGKILL)) => self.killed(w, &format!("aimed at {target:?}")),
            Some(Exit::Code(0)) => {
                // It finished before the signal came.
                self.st.missed += 1;
                self.exited(w)
            }
            other => Err(self.failure(&format!(
                "{} ended with {other:?} before it was killed (its message is above)",
                self.who(w)
            ))),
        }
    }

    /// Worker `w`'s child was SIGKILLed (and reaped): counts the kill in
    /// its last phase, accounts for what it left, restarts the worker.
    fn killed(&mut self, w: usize, how: &str) -> Result<(), String> {
        self.kids[w] = None;
        let phase = self.side.phase(w);
        self.st.kills += 1;
        self.st.by_column[phase.map_or(0, Phase::column)] += 1;
        self.account(w, phase);
        self.note(format!(
            "kill {}: {} {how}, landed in {phase:?}",
            self.st.kills,
            self.who(w)
        ));
        self.spawn(w)
    }

    /// What a killed child left: a producer's send in flight, a consumer's
    /// receipt half recorded, a receive call that may have taken a message.
    fn account(&mut self, w: usize, phase: Option<Phase>) {
        let side = self.side;
        if self.producer(w) {
            let (sent, committed) = (side.get(w, W_SENT), side.get(w, W_COMMITTED));
            // (A successor killed before it sent anything leaves its
            // predecessor's number: counted once.)
            if sent > committed && self.uncertain.insert((w, sent - 1)) {
                self.st.in_flight += 1;
            }
            return;
        }
        if side.get(w, W_PENDING) != 0 {
            // The dead consumer had this message (returned by its receive
            // call); record it as received, as it would have.
            // (A set bit of a number it had not recorded yet: another
            // receiver had it too.)
            let (p, s) = kinds::untag(side.get(w, W_PENDING_TAG));
            if p < self.producers && s < side.get(p, W_SENT) {
                let mine = s < side.get(w, W_LAST + p);
                if !side.set_bit(p, s) {
                    self.st.completed += 1;
                } else if !mine {
                    side.add(w, W_DUPS, 1);
                    self.note(format!(
                        "duplicate: message {p}:{s}, held by a killed consumer"
                    ));
                }
                if !mine {
                    side.put(w, W_LAST + p, s + 1);
                }
            }
        }
        if phase == Some(Phase::Call) {
            self.st.recv_call_kills += 1;
            if self.kind.is_channel() {
                self.snaps.push(
                    (0..self.producers)
                        .map(|p| (side.get(w, W_LAST + p), side.get(p, W_SENT)))
                        .collect(),
                );
            }
        }
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
        self.side
            .global(G_STOP)
            .store(1, std::sync::atomic::Ordering::Release);
        let producers = self.producers;
        self.wait_until(|h| h.kids[..producers].iter().all(Option::is_none))?;
        self.note("drain: consumers receive what is left".into());
        self.side
            .global(G_DRAIN)
            .store(1, std::sync::atomic::Ordering::Release);
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

/// Whether a child in phase `p` went past `want` (`Open` recurs when an
/// attach found the role held and the child takes it over instead).
fn passed(p: Phase, want: Phase) -> bool {
    match want {
        Phase::TakeOver => p >= Phase::Run,
        Phase::Claim => p == Phase::TakeOver || p >= Phase::Run,
        _ => p > want,
    }
}
