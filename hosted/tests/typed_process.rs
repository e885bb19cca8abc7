//! Typed channels (`ipckit::channel::typed`) across real processes: a
//! struct with strings, vectors, options and enums round-trips through the
//! SPSC and MPSC forms; a receiver of another type is refused at open
//! (naming the channel and both ids); an oversize message is refused and
//! nothing queued is lost; garbage from a raw byte sender is a decode error
//! that consumes only itself; an id of 0 opts out; a dead receiver's role
//! is taken over (by its type only). The `Pod` item channels' type id is
//! refused across processes alike.
//!
//! Built with `harness = false`: children are `fork()`ed from a
//! single-threaded process and open the channels by name, as unrelated
//! processes would. Names are `ipckit-test-<pid>-<n>-<what>`, removed by
//! drop guards; the binary fails if anything of this run is left.

mod support;

use std::time::{Duration, Instant};

use ipckit::channel::typed::{MessageType, MpscReceiver, MpscSender, Receiver, Sender};
use ipckit::channel::{bytes, mpsc_bytes};
use ipckit::error::Error;
use serde::{Deserialize, Serialize};
use support::{
    Child, ChildFail, Ctx, EXIT_BAD_VALUE, EXIT_CHECK, EXIT_RING_ERROR, ShmGuard, Suite, fail,
    fork_main,
};

const PATIENCE: Duration = Duration::from_secs(60);
const JOBS: u64 = 20_000;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Shape {
    Circle { r: f64 },
    Polygon(Vec<(i32, i32)>),
    Empty,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Job {
    id: u64,
    from: u32,
    name: String,
    tags: Vec<String>,
    shape: Shape,
    note: Option<String>,
}
impl MessageType for Job {}

/// Another type, for the mismatch.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Invoice {
    id: u64,
    total: i64,
}
impl MessageType for Invoice {}

/// `Job`'s shape under another name that opts out of type ids.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct LooseJob {
    id: u64,
    from: u32,
    name: String,
    tags: Vec<String>,
    shape: Shape,
    note: Option<String>,
}
impl MessageType for LooseJob {
    fn message_type_id() -> u64 {
        0
    }
}

/// Job `i` of sender `from`: every variant, lengths from 0 to ~600 bytes.
fn job(from: u32, i: u64) -> Job {
    let n = (i % 37) as usize;
    Job {
        id: i,
        from,
        name: format!("job-{from}-{i}-{}", "é".repeat(n)),
        tags: (0..n % 5).map(|t| format!("t{t}")).collect(),
        shape: match i % 3 {
            0 => Shape::Circle { r: i as f64 / 7.0 },
            1 => Shape::Polygon((0..n as i32).map(|k| (k, -k * 1000)).collect()),
            _ => Shape::Empty,
        },
        note: (i % 2 == 0).then(|| "x".repeat(n * 10)),
    }
}

fn cf<T>(r: Result<T, Error>, what: &str) -> Result<T, ChildFail> {
    r.map_err(|e| fail(EXIT_RING_ERROR, format!("{what}: {e}")))
}

fn wait_ok(child: &mut Child) -> Result<(), String> {
    child.expect_ok(Instant::now() + PATIENCE)
}

/// Receives until the senders are gone; `Err` on anything else.
fn drain<T: serde::de::DeserializeOwned + MessageType, B: ipckit::channel::typed::ByteReceiver>(
    rx: &mut Receiver<T, B>,
    mut each: impl FnMut(T) -> Result<(), String>,
) -> Result<u64, String> {
    let mut n = 0;
    loop {
        match rx.recv_timeout(PATIENCE) {
            Ok(v) => {
                each(v)?;
                n += 1;
            }
            Err(e) if e.is_peer_gone() => return Ok(n),
            Err(e) => return Err(format!("recv after {n}: {e}")),
        }
    }
}

fn spsc_round_trip() -> Result<String, String> {
    let g = ShmGuard::new("typed-spsc");
    let mut rx = Receiver::<Job>::create(&g.0, 1 << 14).ctx("create")?;
    let name = g.0.clone();
    let mut child = fork_main(move || {
        let mut tx = cf(Sender::<Job>::open(&name), "open")?;
        for i in 0..JOBS {
            cf(tx.send(&job(0, i)), "send")?;
        }
        Ok(())
    })?;
    let mut next = 0;
    let got = drain(&mut rx, |j| {
        ensure!(j == job(0, next), "job {next}: got {j:?}");
        next += 1;
        Ok(())
    })?;
    wait_ok(&mut child)?;
    ensure!(got == JOBS, "{got} of {JOBS} jobs");
    Ok(format!("{JOBS} jobs, each checked field by field"))
}

fn mpsc_round_trip() -> Result<String, String> {
    let g = ShmGuard::new("typed-mpsc");
    let mut rx = MpscReceiver::<Job>::create(&g.0, 1 << 14).ctx("create")?;
    // Held until every child started, so that a fast child that finishes
    // first does not leave "no sender" for a moment.
    let keep = MpscSender::<Job>::open(&g.0).ctx("own sender")?;
    let mut children = Vec::new();
    for from in 1..=3u32 {
        let name = g.0.clone();
        children.push(fork_main(move || {
            let mut tx = cf(MpscSender::<Job>::open(&name), "open")?;
            for i in 0..JOBS / 4 {
                cf(tx.send(&job(from, i)), "send")?;
            }
            Ok(())
        })?);
    }
    let mut next = [0u64; 4];
    let mut got = 0;
    while got < 3 * (JOBS / 4) {
        let j = rx.recv_timeout(PATIENCE).ctx("recv")?;
        let from = j.from as usize;
        ensure!((1..=3).contains(&from), "from {from}");
        ensure!(j == job(j.from, next[from]), "sender {from}: {j:?}");
        next[from] += 1;
        got += 1;
    }
    for c in &mut children {
        wait_ok(c)?;
    }
    drop(keep);
    ensure!(
        rx.recv_timeout(PATIENCE).is_err_and(|e| e.is_peer_gone()),
        "not gone"
    );
    Ok(format!(
        "3 sender processes x {} jobs, in order per sender",
        JOBS / 4
    ))
}

fn mismatch_at_open() -> Result<String, String> {
    let g = ShmGuard::new("typed-mismatch");
    let mut tx = Sender::<Job>::create(&g.0, 4096).ctx("create")?;
    let name = g.0.clone();
    let mut child = fork_main(move || match Receiver::<Invoice>::open(&name) {
        Err(Error::TypeMismatch {
            channel,
            ours,
            theirs,
        }) if channel == name
            && ours == Invoice::message_type_id()
            && theirs == Job::message_type_id() =>
        {
            Ok(())
        }
        Err(e) => Err(fail(EXIT_CHECK, format!("wrong error: {e}"))),
        Ok(_) => Err(fail(
            EXIT_CHECK,
            "a receiver of Invoice opened a Job channel",
        )),
    })?;
    wait_ok(&mut child)?;
    // The refused receiver took no slot: the sender sees no peer that left.
    ensure!(
        tx.as_bytes().peer_gone().is_none(),
        "the refusal looks like a departure"
    );
    let name = g.0.clone();
    let mut child = fork_main(move || {
        let mut rx = cf(Receiver::<Job>::open(&name), "open")?;
        let j = cf(rx.recv_timeout(PATIENCE), "recv")?;
        if j != job(0, 5) {
            return Err(fail(EXIT_BAD_VALUE, format!("{j:?}")));
        }
        Ok(())
    })?;
    tx.send(&job(0, 5)).ctx("send")?;
    wait_ok(&mut child)?;
    let msg = Receiver::<Invoice>::open(&g.0).unwrap_err().to_string();
    ensure!(
        msg.contains(&g.0),
        "the message does not name the channel: {msg}"
    );
    Ok(msg)
}

/// The `Pod` item channels state a type id too: a receiver process of
/// `[u64; 1]` (the size and alignment of `u64`) is refused at open by a
/// channel of `u64`, leaving no trace; one of `u64` then receives.
fn pod_mismatch_at_open() -> Result<String, String> {
    use ipckit::channel::{self, liveness::pod_type_id, spsc};
    let g = ShmGuard::new("pod-mismatch");
    let mut tx: spsc::Sender<u64> = channel::spsc().create(&g.0).ctx("create")?;
    let name = g.0.clone();
    let mut child =
        fork_main(
            move || match channel::spsc::<[u64; 1]>().open::<spsc::Receiver<_>>(&name) {
                Err(Error::TypeMismatch {
                    channel,
                    ours,
                    theirs,
                }) if channel == name
                    && ours == pod_type_id::<[u64; 1]>()
                    && theirs == pod_type_id::<u64>() =>
                {
                    Ok(())
                }
                Err(e) => Err(fail(EXIT_CHECK, format!("wrong error: {e}"))),
                Ok(_) => Err(fail(EXIT_CHECK, "a [u64; 1] receiver opened a u64 channel")),
            },
        )?;
    wait_ok(&mut child)?;
    ensure!(
        tx.peers_joined() == 0 && tx.peer_gone().is_none(),
        "the refusal left a trace"
    );
    let name = g.0.clone();
    let mut child = fork_main(move || {
        let mut rx: spsc::Receiver<u64> = cf(channel::spsc().open(&name), "open")?;
        match cf(rx.recv_timeout(PATIENCE), "recv")? {
            5 => Ok(()),
            v => Err(fail(EXIT_BAD_VALUE, format!("{v}"))),
        }
    })?;
    tx.send(5).ctx("send")?;
    wait_ok(&mut child)?;
    Ok("a [u64; 1] receiver refused by a u64 channel, no trace; a u64 receiver served".into())
}

fn oversize_refused() -> Result<String, String> {
    let g = ShmGuard::new("typed-oversize");
    let mut rx = Receiver::<Job>::create(&g.0, 4096).ctx("create")?;
    let name = g.0.clone();
    let mut child = fork_main(move || {
        let mut tx = cf(Sender::<Job>::open(&name), "open")?;
        cf(tx.send(&job(0, 1)), "send 1")?;
        let mut big = job(0, 2);
        big.note = Some("z".repeat(tx.max_frame_len() as usize));
        match tx.send(&big) {
            Err(Error::MessageTooLarge { channel, max })
                if channel == name && max == tx.max_frame_len() => {}
            other => return Err(fail(EXIT_CHECK, format!("oversize: {other:?}"))),
        }
        cf(tx.send(&job(0, 3)), "send 3")
    })?;
    let mut seen = Vec::new();
    drain(&mut rx, |j| {
        seen.push(j.id);
        Ok(())
    })?;
    wait_ok(&mut child)?;
    ensure!(seen == [1, 3], "received {seen:?}");
    Ok("refused in the sender; the messages before and after arrive".into())
}

fn garbage_consumed() -> Result<String, String> {
    let g = ShmGuard::new("typed-garbage");
    let mut rx = MpscReceiver::<Job>::create(&g.0, 4096).ctx("create")?;
    let name = g.0.clone();
    let mut child = fork_main(move || {
        let raw = cf(mpsc_bytes::Sender::open(&name), "open raw")?;
        let mut tx = cf(MpscSender::<Job>::open(&name), "open typed")?;
        cf(tx.send(&job(9, 1)), "send 1")?;
        cf(raw.send(&[0xff; 20]), "garbage")?;
        cf(tx.send(&job(9, 2)), "send 2")
    })?;
    let first = rx.recv_timeout(PATIENCE).ctx("recv 1")?;
    ensure!(first == job(9, 1), "{first:?}");
    let msg = match rx.recv_timeout(PATIENCE) {
        Err(Error::Decode {
            channel, len: 20, ..
        }) if channel == g.0 => {
            // (the error's text, for the report)
            format!("decode error on {channel}, 20 bytes consumed")
        }
        other => return Err(format!("garbage: {other:?}")),
    };
    let second = rx.recv_timeout(PATIENCE).ctx("recv 2")?;
    ensure!(second == job(9, 2), "{second:?}");
    wait_ok(&mut child)?;
    Ok(msg)
}

fn zero_opts_out() -> Result<String, String> {
    // An opt-out sender opens a Job channel, and a Job receiver decodes
    // what it sends (the same shape).
    let g = ShmGuard::new("typed-zero");
    let mut rx = Receiver::<Job>::create(&g.0, 4096).ctx("create")?;
    let name = g.0.clone();
    let mut child = fork_main(move || {
        let mut tx = cf(Sender::<LooseJob>::open(&name), "open opting out")?;
        let j = job(0, 4);
        let loose = LooseJob {
            id: j.id,
            from: j.from,
            name: j.name,
            tags: j.tags,
            shape: j.shape,
            note: j.note,
        };
        cf(tx.send(&loose), "send")
    })?;
    let j = rx.recv_timeout(PATIENCE).ctx("recv")?;
    ensure!(j == job(0, 4), "{j:?}");
    wait_ok(&mut child)?;
    // A channel whose creator stated no id (a raw creator, or an object
    // older than the field): the first typed side records its id, a
    // different one is then refused.
    let g = ShmGuard::new("typed-unstated");
    let _raw = bytes::Receiver::create(&g.0, 4096).ctx("raw create")?;
    let name = g.0.clone();
    let mut child = fork_main(move || {
        cf(
            Sender::<Job>::open(&name),
            "typed open of an unstated channel",
        )
        .map(drop)
    })?;
    wait_ok(&mut child)?;
    match Sender::<Invoice>::open(&g.0) {
        Err(Error::TypeMismatch { theirs, .. }) if theirs == Job::message_type_id() => {}
        other => return Err(format!("after the first typed side: {other:?}")),
    }
    Ok("an id of 0 opens any channel; an unstated channel takes the first id".into())
}

fn take_over_dead_receiver() -> Result<String, String> {
    let g = ShmGuard::new("typed-take-over");
    let mut tx = Sender::<Job>::create(&g.0, 4096).ctx("create")?;
    let name = g.0.clone();
    let mut child = fork_main(move || {
        // Opened and never closed: the process ends holding the role, as
        // a crashed one does.
        std::mem::forget(cf(Receiver::<Job>::open(&name), "open")?);
        Ok(())
    })?;
    wait_ok(&mut child)?;
    for i in 0..3 {
        tx.send(&job(0, i)).ctx("send")?;
    }
    ensure!(
        Receiver::<Job>::open(&g.0).is_err_and(|e| e.core().is_some()),
        "open of a held role"
    );
    match Receiver::<Invoice>::take_over(&g.0) {
        Err(Error::TypeMismatch { .. }) => {}
        other => return Err(format!("take-over by another type: {other:?}")),
    }
    let mut rx = Receiver::<Job>::take_over(&g.0).ctx("take over")?;
    for i in 0..3 {
        let j = rx.try_recv().ctx("recv")?;
        ensure!(j == job(0, i), "{j:?}");
    }
    Ok(
        "a dead receiver's role taken over, the queued jobs received; another type refused first"
            .into(),
    )
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("spsc: structs round trip across processes", spsc_round_trip),
        ("mpsc: 3 sender processes", mpsc_round_trip),
        ("type id mismatch refused at open", mismatch_at_open),
        ("Pod type id mismatch refused at open", pod_mismatch_at_open),
        ("oversize message refused, nothing lost", oversize_refused),
        (
            "garbage from a raw sender: decode error, consumed",
            garbage_consumed,
        ),
        ("type id 0 opts out", zero_opts_out),
        (
            "take-over of a dead typed receiver",
            take_over_dead_receiver,
        ),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}
