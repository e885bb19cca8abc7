//! Strikes: waiting for a child to reach a phase, and killing it there
//! (the [module docs](super) list the strikes).

use std::time::{Duration, Instant};

use super::Harness;
use crate::kinds;
use crate::side::*;
use crate::support::Exit;

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

/// What a strike aims at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
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
pub(super) fn rotation() -> Result<Vec<Target>, String> {
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

impl Harness<'_> {
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

    pub(super) fn has_single(&self) -> bool {
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
        let generation = self.generations[w];
        if kill {
            let d = self.us(RANDOM_DELAY_US);
            self.pause(d)?;
            if self.generations[w] != generation {
                // It dropped its endpoint meanwhile: its successor (with
                // the aim) is fresh already.
                return Ok(());
            }
            return self.kill(w, Target::Run);
        }
        self.side.put(w, W_BUDGET, 0);
        while self.generations[w] == generation {
            self.service()?;
            std::thread::sleep(Duration::from_micros(50));
        }
        Ok(())
    }

    pub(super) fn strike(&mut self, target: Target) -> Result<(), String> {
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
    pub(super) fn killed(&mut self, w: usize, how: &str) -> Result<(), String> {
        self.kids[w] = None;
        let phase = self.side.phase(w);
        self.st.kills += 1;
        self.st.by_column[phase.map_or(0, Phase::column)] += 1;
        self.account(w, phase);
        let detail = if self.producer(w) {
            format!(
                "sent {} committed {}",
                self.side.get(w, W_SENT),
                self.side.get(w, W_COMMITTED)
            )
        } else {
            format!(
                "last {:?} pending {}",
                (0..self.producers)
                    .map(|p| self.side.get(w, W_LAST + p))
                    .collect::<Vec<_>>(),
                self.side.get(w, W_PENDING)
            )
        };
        self.note(format!(
            "kill {}: {} pid {} {how}, landed in {phase:?} {detail}",
            self.st.kills,
            self.who(w),
            self.side.get(w, W_PID)
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
                if self.kind.is_topic() {
                    // For the subscribers' checks, before the successor
                    // publishes anything.
                    side.set_bit(UNCERTAIN, sent - 1);
                }
            }
            return;
        }
        if self.kind.is_topic() {
            // A subscriber's receipts are its own, checked as they come:
            // nothing to complete for a dead one.
            if phase == Some(Phase::Call) {
                self.st.recv_call_kills += 1;
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
                self.snaps.push(super::gaps::CallKill {
                    kill: self.st.kills,
                    per: (0..self.producers)
                        .map(|p| (side.get(w, W_LAST + p), side.get(p, W_SENT)))
                        .collect(),
                });
            }
        }
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
