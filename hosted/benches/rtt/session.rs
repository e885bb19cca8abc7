//! One variant's parent end ([`Pinger`]), a session that keeps a child and
//! its channel across criterion's calls, and the timed loop.

use std::time::{Duration, Instant};

use ipckit::futex::{Futex, monotonic_now};
use ipckit::shm::SharedMapping;
use ipckit::wait::Spin;

use crate::child::Child;
use crate::eventfd::{EventfdPinger, watchdog};
use crate::spsc::SpscPinger;
use crate::words::WordPinger;
use crate::{Variant, spins};

/// A mapping that lives for the rest of the run, so that ring endpoints
/// built on it are `'static` and can be kept across criterion's calls. A few
/// pages per benchmark.
pub fn leaked_mapping(len: usize) -> Result<&'static SharedMapping, String> {
    let mapping = SharedMapping::anonymous(len).map_err(|e| format!("mmap: {e}"))?;
    Ok(Box::leak(Box::new(mapping)))
}

/// The parent's end of one variant: a round trip, and the stop message.
pub trait Pinger {
    /// Sends `seq` (never 0 or [`STOP`](crate::STOP)) and waits for it to come back.
    fn round_trip(&mut self, seq: u64, child: &mut Child) -> Result<(), String>;
    /// Tells the child to leave its loop.
    fn stop(&mut self) -> Result<(), String>;
}

/// `Err` unless the reply is what was sent.
#[inline(always)]
pub fn check_reply<T: PartialEq + std::fmt::Debug>(sent: T, got: T) -> Result<(), String> {
    if got == sent {
        Ok(())
    } else {
        Err(format!("sent {sent:?}, got back {got:?}"))
    }
}

/// One variant's parent end.
enum Channel {
    Futex(SpscPinger<Futex>),
    Spin(SpscPinger<Spin>),
    Words(WordPinger),
    Eventfd(EventfdPinger),
}

/// A child process and the channel to it, kept across criterion's calls.
pub struct Session {
    variant: Variant,
    channel: Channel,
    child: Child,
    seq: u64,
}

impl Session {
    pub fn start(variant: Variant) -> Result<Self, String> {
        let spin = Spin::with_clock(monotonic_now);
        let (channel, child) = match variant {
            Variant::SpscFutex => {
                let (p, c) = SpscPinger::start(Futex::new(), true, true)?;
                (Channel::Futex(p), c)
            }
            Variant::SpscAdaptive => {
                let (p, c) = SpscPinger::start(Futex::adaptive(spins()), true, true)?;
                (Channel::Futex(p), c)
            }
            Variant::SpscSpin => {
                let (p, c) = SpscPinger::start(spin, false, true)?;
                (Channel::Spin(p), c)
            }
            Variant::SpscBusy => {
                let (p, c) = SpscPinger::start(spin, false, false)?;
                (Channel::Spin(p), c)
            }
            Variant::RawFutex => {
                let (p, c) = WordPinger::start(true)?;
                (Channel::Words(p), c)
            }
            Variant::CacheLine => {
                let (p, c) = WordPinger::start(false)?;
                (Channel::Words(p), c)
            }
            Variant::Eventfd => {
                let (p, c) = EventfdPinger::start()?;
                (Channel::Eventfd(p), c)
            }
        };
        Ok(Self {
            variant,
            channel,
            child,
            seq: 0,
        })
    }

    /// `n` round trips; the time they took.
    pub fn run(&mut self, n: u64) -> Result<Duration, String> {
        self.each::<false>(n, &mut Vec::new())
    }

    /// `n` round trips, each timed on its own (in ns, appended to `laps`).
    pub fn laps(&mut self, n: u64, laps: &mut Vec<f64>) -> Result<(), String> {
        self.each::<true>(n, laps).map(drop)
    }

    fn each<const TIMED: bool>(&mut self, n: u64, laps: &mut Vec<f64>) -> Result<Duration, String> {
        let (seq, child) = (&mut self.seq, &mut self.child);
        let eventfd = matches!(self.channel, Channel::Eventfd(_));
        if eventfd {
            watchdog::arm();
        }
        let r = match &mut self.channel {
            Channel::Futex(p) => round_trips::<_, TIMED>(p, n, seq, child, laps),
            Channel::Spin(p) => round_trips::<_, TIMED>(p, n, seq, child, laps),
            Channel::Words(p) => round_trips::<_, TIMED>(p, n, seq, child, laps),
            Channel::Eventfd(p) => round_trips::<_, TIMED>(p, n, seq, child, laps),
        };
        if eventfd {
            watchdog::disarm();
        }
        r.map_err(|e| format!("{}: {e}", self.variant.name()))
    }

    /// Stops the child and reaps it.
    pub fn stop(mut self) -> Result<(), String> {
        let sent = match &mut self.channel {
            Channel::Futex(p) => p.stop(),
            Channel::Spin(p) => p.stop(),
            Channel::Words(p) => p.stop(),
            Channel::Eventfd(p) => p.stop(),
        };
        let finished = self
            .child
            .expect_ok(Instant::now() + Duration::from_secs(5));
        sent.and(finished)
            .map_err(|e| format!("{}: stopping the child: {e}", self.variant.name()))
    }
}

/// The timed loop, monomorphised per channel. With `TIMED`, each round
/// trip's time goes to `laps` (one clock read per round trip: the end of one
/// is the start of the next).
#[inline(never)]
fn round_trips<P: Pinger, const TIMED: bool>(
    p: &mut P,
    n: u64,
    seq: &mut u64,
    child: &mut Child,
    laps: &mut Vec<f64>,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut last = start;
    for _ in 0..n {
        *seq += 1;
        p.round_trip(*seq, child)?;
        if TIMED {
            let now = Instant::now();
            laps.push((now - last).as_nanos() as f64);
            last = now;
        }
    }
    Ok(start.elapsed())
}
