//! Waking and death notices across processes: the measured prototype behind
//! `docs/WAKING.md`. Every variant runs between two real processes (`fork`),
//! interleaved in rounds (the testkit harness), on one shared page that
//! stands for the channel region.
//!
//! | table | what is measured |
//! |-------|------------------|
//! | wake latency | a sleeper announces itself (waiters word, `SeqCst` fence), re-checks the event word, sleeps; once it is asleep (`/proc` state `S`) the waker stamps the clock, bumps the event word, fences, reads the waiters word and wakes; the sleeper stamps the clock on return. Latency = the two stamps' difference (one `CLOCK_MONOTONIC`) |
//! | waker cost | the waker's time from its stamp to the end of its wake call (store, fence, load, system call) |
//! | fast path | one publication when nobody waits: store, fence, load of the waiters word (no system call), against a plain store and against the system calls a wake would make |
//! | death notice | a victim (not the sleeper's child) is SIGKILLed by a third process; latency from just before `kill` to the sleeper's return |
//! | idle wake-ups | context switches of a blocked sleeper over a quiet spell (`/proc/<pid>/task/*/status`) |
//!
//! Sleepers: `futex` (today's `FUTEX_WAIT`), `bell/poll` (an abstract Unix
//! datagram socket, the doorbell, bound by the sleeper under a name derived
//! from its pid and a random nonce that it publishes; `poll` on it and on a
//! pidfd of the waker), `bell/epoll` (the same through `epoll_wait`),
//! `bell/nested` (an outer epoll holding the endpoint's epoll, as tokio or a
//! `WaitSet` would), `eventfd/epoll` (an eventfd the waker holds: inherited
//! here, it stands for one passed over `SCM_RIGHTS`), `thread/eventfd` (a
//! waker thread in the sleeper's process futex-waits and writes an eventfd
//! that the main thread epoll-waits on), `slices` (today's blocked
//! receiver: 50 ms futex slices with a `/proc` liveness check between).
//!
//! `cargo bench -p ipckit --bench waking` (`-- --quick` for one round, a
//! filter such as `death` to run one table); `cargo test --benches` runs a
//! smoke round.

mod sys;
mod turns;

use std::os::fd::AsRawFd;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use ipckit::futex::Futex;
use ipckit::wait::Notify;
use ipckit_testkit::bench::{PlainRun, Ratio, Stats, Unit, interleave, print_table};
use ipckit_testkit::pin;

use sys::*;
use turns::{death_once, idle_turn, wake_turn};

/// The sleepers measured (see the crate docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Futex,
    BellPoll,
    BellEpoll,
    BellNested,
    EventfdEpoll,
    Thread,
    Slices,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Futex => "futex",
            Kind::BellPoll => "bell/poll [bell,pidfd]",
            Kind::BellEpoll => "bell/epoll [bell,pidfd]",
            Kind::BellNested => "bell/nested epoll",
            Kind::EventfdEpoll => "eventfd/epoll [efd,pidfd]",
            Kind::Thread => "thread/eventfd",
            Kind::Slices => "slices 50ms (today)",
        }
    }
}

/// Nanoseconds per publication over `n` publications (for the variants
/// that make a system call: the time inside the wake calls only, not the
/// doorbell's draining).
fn fast_path(variant: usize, n: u32) -> f64 {
    let me = page();
    me.reset();
    let (event, waiters) = (me.u32(EVENT), me.u32(WAITERS));
    let bell = bind_bell().expect("doorbell");
    let ringer = Ringer::new(std::process::id(), bell.1).expect("ringer");
    let unconnected = dgram_socket().expect("socket");
    let efd = eventfd().expect("eventfd");
    if variant < 2 {
        let t = Instant::now();
        for i in 0..n {
            event.store(i, Ordering::Release);
            if variant == 1 {
                fence(Ordering::SeqCst);
                if std::hint::black_box(waiters.load(Ordering::Relaxed)) != 0 {
                    Futex::new().wake_all(event);
                }
            }
        }
        return t.elapsed().as_nanos() as f64 / f64::from(n.max(1));
    }
    let n = n / 50;
    let mut inside = Duration::ZERO;
    for i in 0..n {
        event.store(i, Ordering::Release);
        let t = Instant::now();
        match variant {
            2 => Futex::new().wake_all(event),
            3 => ringer.ring(),
            4 => ringer.ring_by_name(&unconnected),
            _ => eventfd_write(efd.as_raw_fd()),
        }
        inside += t.elapsed();
        if i % 8 == 7 {
            drain_bell(bell.0.as_raw_fd());
            eventfd_drain(efd.as_raw_fd());
        }
    }
    inside.as_nanos() as f64 / f64::from(n.max(1))
}

const FAST: [&str; 6] = [
    "store only",
    "store+fence+load, nobody waits",
    "FUTEX_WAKE, no sleeper",
    "bell send (connected)",
    "bell sendto (by name)",
    "eventfd write",
];

fn table(title: &str, kinds: &[Kind], rows: &[Vec<f64>], unit: Unit) {
    print_table(
        title,
        kinds
            .iter()
            .zip(rows)
            .map(|(k, v)| (k.name(), Stats::of(v))),
        unit,
    );
}

fn main() -> Result<(), String> {
    let run = PlainRun::from_args(15);
    let cpu = pin::pin_main();
    println!(
        "waking: {}; kernel {}",
        pin::placement("waker", "sleeper"),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    let cpu_name = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines()
            .find(|l| l.starts_with("model name"))
            .map(str::to_string)
    });
    println!(
        "{}; pinned: {}",
        cpu_name.unwrap_or_default(),
        cpu.is_some()
    );
    let (wakes, idle_for, deaths) = if run.smoke {
        (5, Duration::from_millis(200), 2)
    } else {
        (200, Duration::from_secs(5), 8)
    };

    if run.selects("wake") {
        let kinds = [
            Kind::Futex,
            Kind::BellPoll,
            Kind::BellEpoll,
            Kind::BellNested,
            Kind::EventfdEpoll,
            Kind::Thread,
        ];
        let mut cost = vec![Vec::new(); kinds.len()];
        let rounds = interleave(&kinds, run.rounds, |k| {
            let (lat, c) = wake_turn(k, wakes)?;
            cost[kinds.iter().position(|&x| x == k).unwrap_or(0)].push(c);
            Ok::<_, String>(lat)
        })?;
        let vs = |label, a| Ratio::new(label, a, Kind::Futex);
        let ratios = [
            vs("bell/poll / futex", Kind::BellPoll),
            vs("bell/epoll / futex", Kind::BellEpoll),
            vs("bell/nested / futex", Kind::BellNested),
            vs("eventfd/epoll / futex", Kind::EventfdEpoll),
            vs("thread/eventfd / futex", Kind::Thread),
            Ratio::new("bell/epoll / eventfd", Kind::BellEpoll, Kind::EventfdEpoll),
        ];
        rounds.print(
            "wake latency (turn medians)",
            Kind::name,
            Unit::Nanos,
            &ratios,
        );
        table(
            "waker cost: store+fence+load+wake call (turn medians)",
            &kinds,
            &cost,
            Unit::Nanos,
        );
    }
    if run.selects("fast") {
        let idx: Vec<usize> = (0..FAST.len()).collect();
        let n = if run.smoke { 10_000 } else { 5_000_000 };
        let rounds = interleave(&idx, run.rounds, |v| Ok::<_, String>(fast_path(v, n)))?;
        rounds.print(
            "fast path: ns per publication",
            |v| FAST[v],
            Unit::Nanos,
            &[],
        );
    }
    if run.selects("death") {
        let kinds = [Kind::BellPoll, Kind::Slices];
        let mut open = Vec::new();
        let rounds = interleave(&kinds, run.rounds.min(5), |k| {
            let mut lat = Vec::new();
            for _ in 0..deaths {
                let (l, o) = death_once(k)?;
                lat.push(l);
                if k != Kind::Slices {
                    open.push(o);
                }
            }
            Ok::<_, String>(Stats::of(&lat).map_or(f64::NAN, |s| s.median))
        })?;
        let name = |k: Kind| {
            if k == Kind::Slices {
                k.name()
            } else {
                "pidfd poll"
            }
        };
        rounds.print(
            "death notice: kill -> sleeper returns",
            name,
            Unit::Nanos,
            &[Ratio::new("slices / pidfd", Kind::Slices, Kind::BellPoll)],
        );
        print_table(
            "pidfd_open + start-time check",
            [("open+confirm", Stats::of(&open))],
            Unit::Nanos,
        );
    }
    if run.selects("idle") {
        let kinds = [
            Kind::Slices,
            Kind::Futex,
            Kind::BellPoll,
            Kind::BellEpoll,
            Kind::Thread,
        ];
        let rounds = interleave(&kinds, run.rounds.min(2), |k| idle_turn(k, idle_for))?;
        println!("\n(idle: a blocked sleeper left alone {idle_for:?} per turn)");
        rounds.print("idle wake-ups per second", Kind::name, Unit::PerSecond, &[]);
    }
    Ok(())
}
