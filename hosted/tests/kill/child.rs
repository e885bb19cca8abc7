//! What a forked child does: open its endpoint (attach, or take over a
//! dead holder's role), send or receive with sequence numbers until its
//! budget runs out or it is killed, record every step in the side channel,
//! drop the endpoint and exit.
//!
//! Recording order, which the harness's accounting relies on:
//! - producer: `SENT = s + 1` (in flight), the send call, `COMMITTED = s + 1`
//!   after `Ok`. A kill while `SENT > COMMITTED` leaves `s` uncertain (it
//!   may or may not have been committed); the successor starts at `SENT`,
//!   so no number is ever sent twice.
//! - consumer: phase `Call`, the receive call, `PENDING_TAG = tag`,
//!   `PENDING = 1`, then the checks (checksum, sender, number below the
//!   producer's `SENT`, after the last one from that sender),
//!   `LAST[p] = s + 1`, the message's bit (`fetch_or`: set already means a
//!   duplicate), `PENDING = 0`, phase `Run`. The harness records the
//!   pending message of a killed consumer, so the only message a consumer
//!   can take to its grave is one its receive call had taken off the
//!   channel but not yet returned (a kill in phase `Call` before
//!   `PENDING`): a "gap by receiver death".

use std::time::{Duration, Instant};

use crate::kinds::{self, Got, Kind, Rx, SemRx, SemTx, Tx};
use crate::side::*;
use crate::support::{self, ChildFail, EXIT_CHECK, EXIT_RING_ERROR, EXIT_TIMEOUT, Rng, fail};
use crate::topics;
use ipckit::error::{CoreError, Error};
use ipckit::shm::ShmObject;

/// The timeout of every send and receive call.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(100);
/// The longest any call, or a restart (fork to endpoint), may take.
pub const LIMIT: Duration = Duration::from_secs(10);
/// The pause before retrying a call that found the peer gone or the
/// channel full (the peer is being restarted).
const RETRY_PAUSE: Duration = Duration::from_micros(200);
/// How long a consumer gets nothing before it reports what holds it up.
const STALL_REPORT: Duration = Duration::from_secs(5);
/// The first anomalies of each sort a child prints.
const PRINT_FIRST: u64 = 5;

/// One child: which worker of which run.
pub struct Ctx<'a> {
    /// The kind under test.
    pub kind: Kind,
    /// The object's name.
    pub name: &'a str,
    /// The side channel.
    pub side: &'a Side,
    /// The worker index (producers first).
    pub w: usize,
    /// The worker's generation (its restarts so far).
    pub generation: u64,
    /// The suite's seed (`IPCKIT_KILL_SEED`), for messages.
    pub seed: u64,
    /// This child's random numbers.
    pub rng: u64,
}

/// The pause after each operation: none for most children, up to 30 µs
/// for some, so that the channel is neither always full nor always empty
/// and kills land inside the operations of either side (not only in their
/// waits). Half the producers: consumers check and record every message,
/// so unpaced producers mostly wait for room.
fn pace(ctx: &Ctx) -> Option<Duration> {
    let mut rng = Rng(ctx.rng ^ 0x9ace);
    let one_in = if ctx.producer() { 2 } else { 4 };
    (rng.next() % one_in == 0).then(|| Duration::from_micros(rng.upto(30)))
}

impl Ctx<'_> {
    fn producer(&self) -> bool {
        self.w < self.kind.producers()
    }

    /// `kind producer|consumer N gen G pid P` for messages.
    fn who(&self) -> String {
        let (role, i) = if self.producer() {
            ("producer", self.w)
        } else {
            ("consumer", self.w - self.kind.producers())
        };
        format!(
            "{} {role} {i} gen {} pid {} (IPCKIT_KILL_SEED={:#x})",
            self.kind.name(),
            self.generation,
            std::process::id(),
            self.seed
        )
    }
}

/// The child's body.
pub fn worker(ctx: Ctx) -> Result<(), ChildFail> {
    let (side, w) = (ctx.side, ctx.w);
    let producer = ctx.producer();
    if ctx.kind == Kind::Semaphore {
        let obj = open_object(&ctx)?;
        side.enter(w, Phase::Claim);
        let handle = kinds::attach_semaphore(&obj)
            .map_err(|e| fail(EXIT_RING_ERROR, format!("{}: attach: {e}", ctx.who())))?;
        side.put(w, W_HELD, 1);
        if producer {
            produce(&ctx, &mut SemTx(handle))?;
        } else {
            consume(&ctx, &mut SemRx(handle))?;
        }
        // A handle is two words and a notifier: dropping the semaphore is
        // unmapping its object.
        side.enter(w, Phase::Drop);
        drop(obj);
    } else if producer && ctx.kind.is_topic() {
        let mut tx = claim(&ctx, |obj, take| {
            topics::open_tx(ctx.kind, ctx.name, obj, take)
        })?;
        produce(&ctx, tx.as_mut())?;
        side.enter(w, Phase::Drop);
        drop(tx);
    } else if ctx.kind.is_topic() {
        let mut rx = claim(&ctx, |obj, _| topics::open_rx(ctx.name, obj, ctx.rng))?;
        consume(&ctx, rx.as_mut())?;
        side.enter(w, Phase::Drop);
        drop(rx);
    } else if producer {
        let mut tx = claim(&ctx, |obj, take| kinds::open_tx(ctx.kind, obj, take))?;
        produce(&ctx, tx.as_mut())?;
        side.enter(w, Phase::Drop);
        drop(tx);
    } else {
        let mut rx = claim(&ctx, |obj, take| kinds::open_rx(ctx.kind, obj, take))?;
        consume(&ctx, rx.as_mut())?;
        side.enter(w, Phase::Drop);
        drop(rx);
    }
    side.put(w, W_HELD, 0);
    side.enter(w, Phase::Done);
    Ok(())
}

/// Opens the object (phase `Open`), retrying for [`LIMIT`].
fn open_object(ctx: &Ctx) -> Result<ShmObject, ChildFail> {
    let until = Instant::now() + LIMIT;
    loop {
        ctx.side.enter(ctx.w, Phase::Open);
        match ShmObject::open(ctx.name) {
            Ok(obj) => return Ok(obj),
            Err(e) if Instant::now() > until => {
                return Err(fail(
                    EXIT_TIMEOUT,
                    format!("{}: no object after {LIMIT:?}: {e}", ctx.who()),
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// Opens the endpoint with `open(object, take_over)`: a single role whose
/// last holder may have died is taken over (mostly at once, sometimes after
/// an attach found the role held); otherwise attached. Retries every
/// failure for [`LIMIT`], then gives up naming the last error.
fn claim<E>(ctx: &Ctx, open: impl Fn(ShmObject, bool) -> Result<E, Error>) -> Result<E, ChildFail> {
    let (side, w) = (ctx.side, ctx.w);
    let single = ctx.kind.single(ctx.producer());
    let mut rng = Rng(ctx.rng | 1);
    let mut take = single && side.get(w, W_HELD) != 0 && rng.next() % 4 != 0;
    let until = Instant::now() + LIMIT;
    let mut last: String;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let obj = open_object(ctx)?;
        let phase = if take { Phase::TakeOver } else { Phase::Claim };
        side.enter(w, phase);
        match open(obj, take) {
            Ok(end) => {
                side.put(w, W_HELD, 1);
                if take {
                    side.add(w, W_TAKE_OVERS, 1);
                }
                return Ok(end);
            }
            // The role is held: by a dead predecessor, for a single role.
            Err(e) if single && !take && matches!(e.core(), Some(CoreError::RoleTaken(_))) => {
                take = true;
                continue;
            }
            Err(e) => last = format!("{phase:?}: {e}"),
        }
        if Instant::now() > until {
            return Err(fail(
                EXIT_TIMEOUT,
                format!(
                    "{}: no endpoint after {LIMIT:?} ({tries} tries; every predecessor is dead \
                     and reaped), last error: {last}",
                    ctx.who()
                ),
            ));
        }
        // Alternate: a role stuck for one way may still open the other.
        take = single && !take;
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs one send or receive call: records how long it took (what the
/// timer of an `Inside` strike is drawn from), fails if that is longer
/// than [`LIMIT`].
fn timed<T>(ctx: &Ctx, what: &str, call: impl FnOnce() -> T) -> Result<T, ChildFail> {
    ctx.side.put(ctx.w, W_CALL_AT, now_ns());
    let started = Instant::now();
    let r = call();
    let took = started.elapsed();
    ctx.side
        .put(ctx.w, W_DUR + Phase::Call as usize, took.as_nanos() as u64);
    if took > LIMIT {
        return Err(fail(
            EXIT_TIMEOUT,
            format!(
                "{}: {what} with a timeout of {CALL_TIMEOUT:?} returned after {took:?}",
                ctx.who()
            ),
        ));
    }
    Ok(r)
}

/// Sends numbered messages until the budget runs out or the harness says
/// stop; finishes the message in flight first.
fn produce(ctx: &Ctx, tx: &mut dyn Tx) -> Result<(), ChildFail> {
    let (side, w) = (ctx.side, ctx.w);
    side.enter(w, Phase::Run);
    let pace = pace(ctx);
    let mut done = 0u64;
    while !side.flag(G_STOP) && done < side.get(w, W_BUDGET) {
        let s = side.get(w, W_SENT);
        if s >= MAX_SEQ {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        tx.load(w, s);
        side.call(w);
        side.put(w, W_SENT, s + 1);
        loop {
            match timed(ctx, "send", || tx.send(CALL_TIMEOUT))? {
                Ok(()) => break,
                Err(e) if kinds::retry(&e) => {
                    if !e.is_timeout() {
                        std::thread::sleep(RETRY_PAUSE);
                    }
                }
                Err(e) => {
                    return Err(fail(
                        EXIT_RING_ERROR,
                        format!("{}: send of message {w}:{s}: {e}", ctx.who()),
                    ));
                }
            }
        }
        side.put(w, W_COMMITTED, s + 1);
        side.add(w, W_OPS, 1);
        side.step(w, Phase::Run);
        done += 1;
        if let Some(d) = pace {
            std::thread::sleep(d);
        }
    }
    Ok(())
}

/// Receives until the budget runs out (not once the harness said stop) or,
/// draining, until the channel is empty for good; then, draining, waits in
/// phase `Finished` to be killed.
fn consume(ctx: &Ctx, rx: &mut dyn Rx) -> Result<(), ChildFail> {
    let (side, w) = (ctx.side, ctx.w);
    side.enter(w, Phase::Run);
    if ctx.kind.is_topic() {
        topics::joined(ctx, rx.positions());
    }
    let pace = pace(ctx);
    let mut done = 0u64;
    // Since when no message came, to report a stall once.
    let mut idle_since = Instant::now();
    let mut reported = false;
    loop {
        if !side.flag(G_STOP) && done >= side.get(w, W_BUDGET) {
            return Ok(());
        }
        let drain = side.flag(G_DRAIN);
        side.call(w);
        let r = timed(ctx, "receive", || rx.recv(CALL_TIMEOUT, drain))?;
        match r {
            Ok(Got::Msg(tag)) => {
                side.put(w, W_PENDING_TAG, tag);
                side.put(w, W_PENDING, 1);
                match rx.check() {
                    Ok(()) => record(ctx, tag),
                    Err(msg) => anomaly(ctx, W_CORRUPT, &msg),
                }
                side.put(w, W_PENDING, 0);
            }
            Ok(Got::Unit) => side.add(w, W_TAKEN, 1),
            Ok(Got::Sample { tag, pos }) => match rx.check() {
                Ok(()) => topics::sample(ctx, tag, pos),
                Err(msg) => anomaly(ctx, W_CORRUPT, &msg),
            },
            Ok(Got::Lagged(n)) => topics::lagged(ctx, n, ctx.kind == Kind::PubsubReliable),
            Err(e) if drain && (e.is_peer_gone() || e.is_empty()) => {
                if ctx.kind.is_topic() {
                    topics::drained(ctx, rx.positions());
                }
                side.put(w, W_SKIPPED, rx.skipped());
                side.step(w, Phase::Run);
                return finished(ctx);
            }
            Err(e) if kinds::retry(&e) => {
                if !e.is_timeout() {
                    std::thread::sleep(RETRY_PAUSE);
                }
                side.put(w, W_SKIPPED, rx.skipped());
                side.step(w, Phase::Run);
                if !reported && idle_since.elapsed() > STALL_REPORT {
                    reported = true;
                    if let Some(stall) = rx.stall() {
                        eprintln!(
                            "  kill: {}: nothing received for {STALL_REPORT:?} ({e}); {stall}",
                            ctx.who()
                        );
                    }
                }
                continue;
            }
            Err(e) => {
                return Err(fail(
                    EXIT_RING_ERROR,
                    format!("{}: receive: {e}", ctx.who()),
                ));
            }
        }
        side.add(w, W_OPS, 1);
        side.step(w, Phase::Run);
        done += 1;
        idle_since = Instant::now();
        if let Some(d) = pace {
            std::thread::sleep(d);
        }
    }
}

/// Records the checked message `tag` (module docs for the order).
fn record(ctx: &Ctx, tag: u64) {
    let (side, w) = (ctx.side, ctx.w);
    let (p, seq) = kinds::untag(tag);
    if p >= ctx.kind.producers() {
        return anomaly(
            ctx,
            W_CORRUPT,
            &format!("message {p}:{seq} names no producer"),
        );
    }
    let sent = side.get(p, W_SENT);
    if seq >= sent {
        return anomaly(
            ctx,
            W_CORRUPT,
            &format!("message {p}:{seq} was never sent (producer {p} is at {sent})"),
        );
    }
    let last = side.get(w, W_LAST + p);
    if seq < last {
        let (field, what) = if side.bit(p, seq) {
            (W_DUPS, "duplicate")
        } else {
            (W_DISORDER, "out of order")
        };
        side.set_bit(p, seq);
        return anomaly(
            ctx,
            field,
            &format!("{what}: message {p}:{seq} after {p}:{}", last - 1),
        );
    }
    side.put(w, W_LAST + p, seq + 1);
    if side.set_bit(p, seq) {
        anomaly(
            ctx,
            W_DUPS,
            &format!("duplicate: message {p}:{seq} was received before (by another receiver)"),
        );
    }
}

/// Counts an anomaly in `field` and prints the first few.
pub fn anomaly(ctx: &Ctx, field: usize, msg: &str) {
    let before = ctx.side.get(ctx.w, field);
    ctx.side.add(ctx.w, field, 1);
    if before < PRINT_FIRST {
        eprintln!("  kill: {}: {msg}", ctx.who());
    }
}

/// Drained: holds the endpoint until the harness kills this process.
fn finished(ctx: &Ctx) -> Result<(), ChildFail> {
    ctx.side.enter(ctx.w, Phase::Finished);
    let until = Instant::now() + support::DEADLINE;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(fail(
        EXIT_CHECK,
        format!("{}: drained, but never killed", ctx.who()),
    ))
}
