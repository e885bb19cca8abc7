//! Pub/sub fan-out latency, same run, interleaved: one publication
//! answered by 1, 2 or 4 subscriber threads on the other CPU, items of
//! 64 B and 64 KiB, through a topic (`ipckit::pubsub`), through a byte
//! topic (`pubsub::bytes`: the frame written in place through a loan,
//! copied out by `recv_into`) and through Unix
//! datagram sockets (one socket pair per subscriber, the message sent to
//! each); plus the 64-byte byte-channel ping-pong, the yardstick
//! (a pub/sub round trip to one subscriber within 1.5× of it).
//!
//! A round trip: the publisher publishes (sends) the item, every
//! subscriber receives it and answers on its own reply path of the same
//! kind (a reply topic of `u64`, its datagram socket), and the publisher
//! waits for every answer. Blocking receives on both sides (a short spin,
//! then a futex or the socket's wait).
//!
//! `cargo bench -p ipckit --bench pubsub` (`IPCKIT_PUBSUB_ROUNDS`, default
//! 7; `IPCKIT_PUBSUB_TRIPS` round trips per round at 64 B, default 5,000,
//! a tenth of it at 64 KiB).

use std::time::{Duration, Instant};

use ipckit::Pod;
use ipckit::channel::{self, Builder, bytes};
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::pubsub::{self, BytesPublisher, Lossy, Publisher, Subscriber};
use ipckit::transport::unix::Datagram;
use ipckit_testkit::bench::Goal;
use ipckit_testkit::bench::{Ratio, Unit, interleave};
use ipckit_testkit::pin::{allowed_cpus, pin_to};

const SMALL: usize = 64;
const LARGE: usize = 64 << 10;
const PATIENCE: Duration = Duration::from_secs(10);

type Small = [u64; SMALL / 8];
type Large = [u64; LARGE / 8];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    BytesPingPong,
    PubSub(usize, usize),
    Bytes(usize, usize),
    Datagram(usize, usize),
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::BytesPingPong => "byte channel ping-pong, 64 B",
            Variant::PubSub(1, SMALL) => "pubsub, 1 subscriber, 64 B",
            Variant::PubSub(2, SMALL) => "pubsub, 2 subscribers, 64 B",
            Variant::PubSub(4, SMALL) => "pubsub, 4 subscribers, 64 B",
            Variant::PubSub(1, _) => "pubsub, 1 subscriber, 64 KiB",
            Variant::PubSub(2, _) => "pubsub, 2 subscribers, 64 KiB",
            Variant::PubSub(_, _) => "pubsub, 4 subscribers, 64 KiB",
            Variant::Bytes(1, SMALL) => "byte topic, 1 subscriber, 64 B",
            Variant::Bytes(2, SMALL) => "byte topic, 2 subscribers, 64 B",
            Variant::Bytes(4, SMALL) => "byte topic, 4 subscribers, 64 B",
            Variant::Bytes(1, _) => "byte topic, 1 subscriber, 64 KiB",
            Variant::Bytes(2, _) => "byte topic, 2 subscribers, 64 KiB",
            Variant::Bytes(_, _) => "byte topic, 4 subscribers, 64 KiB",
            Variant::Datagram(1, SMALL) => "unix datagram, 1 subscriber, 64 B",
            Variant::Datagram(2, SMALL) => "unix datagram, 2 subscribers, 64 B",
            Variant::Datagram(4, SMALL) => "unix datagram, 4 subscribers, 64 B",
            Variant::Datagram(1, _) => "unix datagram, 1 subscriber, 64 KiB",
            Variant::Datagram(2, _) => "unix datagram, 2 subscribers, 64 KiB",
            Variant::Datagram(_, _) => "unix datagram, 4 subscribers, 64 KiB",
        }
    }
}

fn env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `work` on a thread pinned to `cpu`.
fn on_cpu(cpu: usize, work: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        let _ = pin_to(cpu);
        work();
    });
}

/// One side of a measured round trip.
trait Trip {
    fn round_trip(&mut self, seq: u64);
}

/// An item that carries a sequence number in its first word.
trait Item: Pod + Send {
    fn with_seq(seq: u64) -> Self;
    fn seq(&self) -> u64;
}

impl<const N: usize> Item for [u64; N]
where
    [u64; N]: Pod,
{
    fn with_seq(seq: u64) -> Self {
        let mut item = [0; N];
        item[0] = seq;
        item
    }
    fn seq(&self) -> u64 {
        self[0]
    }
}

/// A topic of `T` and one reply topic per subscriber.
struct Fan<T: Item> {
    tx: Publisher<T>,
    replies: Vec<Subscriber<u64>>,
}

impl<T: Item> Fan<T> {
    /// The topic and `n` subscriber threads on `cpu`, each answering every
    /// item with its first word on its reply topic.
    fn new(n: usize, cpu: usize) -> ipckit::Result<Self> {
        let (tx, first) = Builder::<Lossy<T>>::new().capacity(8).pair()?;
        let mut subscribers = vec![first];
        for _ in 1..n {
            subscribers.push(tx.topic().subscriber()?);
        }
        let mut replies = Vec::new();
        for mut rx in subscribers {
            let (mut reply, back) = Builder::<Lossy<u64>>::new().capacity(8).pair()?;
            replies.push(back);
            on_cpu(cpu, move || {
                while let Ok(item) = rx.recv() {
                    reply.publish(item.seq());
                }
            });
        }
        Ok(Self { tx, replies })
    }
}

impl<T: Item> Trip for Fan<T> {
    fn round_trip(&mut self, seq: u64) {
        self.tx.publish(T::with_seq(seq));
        for r in &mut self.replies {
            assert_eq!(r.recv_timeout(PATIENCE).expect("reply"), seq);
        }
    }
}

/// A byte topic of `len`-byte frames (8 slots) and one reply topic per
/// subscriber.
struct ByteFan {
    tx: BytesPublisher,
    replies: Vec<Subscriber<u64>>,
    msg: Vec<u8>,
}

impl ByteFan {
    /// The topic and `n` subscriber threads on `cpu`, each answering every
    /// frame with its first word on its reply topic.
    fn new(n: usize, len: usize, cpu: usize) -> ipckit::Result<Self> {
        let name = format!("bench-pubsub-bytes-{}-{n}-{len}", std::process::id());
        let topic = pubsub::bytes(&name)
            .max_frame(len)
            .capacity(8 * (len + 8))
            .create()?;
        let tx = topic.publisher()?;
        let mut replies = Vec::new();
        for _ in 0..n {
            let mut rx = topic.subscriber()?;
            let (mut reply, back) = Builder::<Lossy<u64>>::new().capacity(8).pair()?;
            replies.push(back);
            on_cpu(cpu, move || {
                let mut buf = vec![0; len];
                while let Ok(n) = rx.recv_into(&mut buf) {
                    let seq = u64::from_le_bytes(buf[..8.min(n)].try_into().expect("seq"));
                    reply.publish(seq);
                }
            });
        }
        pubsub::remove(&name)?; // the ends keep it
        Ok(Self {
            tx,
            replies,
            msg: vec![0x5A; len],
        })
    }
}

impl Trip for ByteFan {
    fn round_trip(&mut self, seq: u64) {
        let mut loan = self.tx.loan(self.msg.len()).expect("loan");
        loan.write_at(0, &seq.to_le_bytes()).expect("seq");
        loan.write_at(8, &self.msg[8..]).expect("payload");
        loan.publish();
        for r in &mut self.replies {
            assert_eq!(r.recv_timeout(PATIENCE).expect("reply"), seq);
        }
    }
}

/// One datagram socket pair per subscriber: the message sent to each.
struct Dgrams {
    socks: Vec<Datagram>,
    msg: Vec<u8>,
    buf: Vec<u8>,
}

impl Dgrams {
    fn new(n: usize, len: usize, cpu: usize) -> ipckit::Result<Self> {
        let mut socks = Vec::new();
        for _ in 0..n {
            let (a, mut b) = Datagram::pair(len)?;
            socks.push(a);
            on_cpu(cpu, move || {
                let mut buf = vec![0; len];
                while let Ok(n) = b.recv(&mut buf) {
                    if b.send(&buf[..8.min(n)]).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self {
            socks,
            msg: vec![0x5A; len],
            buf: vec![0; len],
        })
    }
}

impl Trip for Dgrams {
    fn round_trip(&mut self, seq: u64) {
        self.msg[..8].copy_from_slice(&seq.to_le_bytes());
        for s in &mut self.socks {
            s.send(&self.msg).expect("send");
        }
        for s in &mut self.socks {
            let n = s
                .recv_timeout(&mut self.buf, Some(PATIENCE))
                .expect("reply");
            assert_eq!(self.buf[..n], seq.to_le_bytes());
        }
    }
}

/// The byte-channel ping-pong of the rpc bench.
struct PingPong {
    tx: bytes::Sender,
    rx: bytes::Receiver,
    msg: [u8; SMALL],
    buf: [u8; SMALL],
}

impl PingPong {
    fn new(cpu: usize) -> ipckit::Result<Self> {
        let (tx, mut echo_rx) = channel::bytes().max_message(SMALL).messages(4).pair()?;
        let (mut echo_tx, rx) = channel::bytes().max_message(SMALL).messages(4).pair()?;
        on_cpu(cpu, move || {
            let mut buf = [0; SMALL];
            while let Ok(n) = echo_rx.recv(&mut buf) {
                if echo_tx.send(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let (msg, buf) = ([0x5A; SMALL], [0; SMALL]);
        Ok(Self { tx, rx, msg, buf })
    }
}

impl Trip for PingPong {
    fn round_trip(&mut self, seq: u64) {
        self.msg[..8].copy_from_slice(&seq.to_le_bytes());
        self.tx.send(&self.msg).expect("send");
        assert_eq!(self.rx.recv(&mut self.buf).expect("recv"), SMALL);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cpus = allowed_cpus()?;
    let (here, there) = (cpus[0], *cpus.get(1).unwrap_or(&cpus[0]));
    pin_to(here)?;
    let fans = [1, 2, 4];
    let mut variants = vec![Variant::BytesPingPong];
    let mut trips: Vec<(Variant, Box<dyn Trip>)> =
        vec![(Variant::BytesPingPong, Box::new(PingPong::new(there)?))];
    for len in [SMALL, LARGE] {
        for n in fans {
            let fan: Box<dyn Trip> = match len {
                SMALL => Box::new(Fan::<Small>::new(n, there)?),
                _ => Box::new(Fan::<Large>::new(n, there)?),
            };
            trips.push((Variant::PubSub(n, len), fan));
            let bytes = Box::new(ByteFan::new(n, len, there)?);
            trips.push((Variant::Bytes(n, len), bytes));
            trips.push((
                Variant::Datagram(n, len),
                Box::new(Dgrams::new(n, len, there)?),
            ));
            variants.extend([
                Variant::PubSub(n, len),
                Variant::Bytes(n, len),
                Variant::Datagram(n, len),
            ]);
        }
    }
    let rounds = env("IPCKIT_PUBSUB_ROUNDS", 7);
    let small_trips = env("IPCKIT_PUBSUB_TRIPS", 5_000).max(10);
    let mut seq = 0u64;
    let results = interleave(&variants, rounds, |v| {
        let count = match v {
            Variant::PubSub(_, LARGE) | Variant::Bytes(_, LARGE) | Variant::Datagram(_, LARGE) => {
                small_trips / 10
            }
            _ => small_trips,
        };
        let trip = &mut trips.iter_mut().find(|(k, _)| *k == v).expect("variant").1;
        let start = Instant::now();
        for _ in 0..count {
            seq += 1;
            trip.round_trip(seq);
        }
        Ok::<_, String>(start.elapsed().as_nanos() as f64 / count as f64)
    })?;
    let mut ratios = vec![
        Ratio::new(
            "pubsub 1 sub 64 B / byte ping-pong",
            Variant::PubSub(1, SMALL),
            Variant::BytesPingPong,
        )
        .goal(Goal::AtMost(1.5)),
    ];
    for len in [SMALL, LARGE] {
        for n in fans {
            let label = format!("pubsub / datagram, {n} sub, {} B", len);
            ratios.push(Ratio::named(
                label,
                Variant::PubSub(n, len),
                Variant::Datagram(n, len),
            ));
            let label = format!("byte topic / pubsub, {n} sub, {} B", len);
            ratios.push(Ratio::named(
                label,
                Variant::Bytes(n, len),
                Variant::PubSub(n, len),
            ));
        }
    }
    results.print(
        &format!("fan-out round trip, publisher on CPU {here}, subscribers on CPU {there}"),
        Variant::name,
        Unit::Nanos,
        &ratios,
    );
    Ok(())
}
