//! The kinds under test, through the public API only: how to create
//! each, open an endpoint (attach or take over), and what a message is
//! (sender, sequence number, checksum). The `pubsub` topics are in
//! `topics`.

use std::time::Duration;

use ipckit::channel::{bytes, mpmc, mpsc_bytes, spsc};
use ipckit::error::Error;
use ipckit::futex::Futex;
use ipckit::semaphore::{Handle, Options, Semaphore};
use ipckit::shm::ShmObject;

/// Items of the typed channels.
const CAPACITY_ITEMS: u32 = 64;
/// Data bytes of the byte channels (messages of up to 2040 bytes).
const CAPACITY_BYTES: u32 = 4096;
/// The semaphore's maximum: posters find it full now and then.
const SEM_MAX: u32 = 64;
/// Spins before a semaphore waiter sleeps.
const SEM_SPINS: u32 = 2000;

/// A channel kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `channel::spsc` with `[u64; 4]` items.
    Spsc,
    /// `channel::mpmc` with `[u64; 4]` items.
    Mpmc,
    /// `channel::bytes`.
    Bytes,
    /// `channel::mpsc_bytes`.
    MpscBytes,
    /// The core semaphore on a named shared-memory object.
    Semaphore,
    /// A lossy `pubsub` topic of `[u64; 4]` items.
    Pubsub,
    /// A reliable `pubsub` topic of `[u64; 4]` items.
    PubsubReliable,
}

/// Every kind, in the order the suite runs them.
pub const KINDS: [Kind; 7] = [
    Kind::Spsc,
    Kind::Mpmc,
    Kind::Bytes,
    Kind::MpscBytes,
    Kind::Semaphore,
    Kind::Pubsub,
    Kind::PubsubReliable,
];

impl Kind {
    /// The sub-test name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Spsc => "spsc",
            Kind::Mpmc => "mpmc",
            Kind::Bytes => "bytes",
            Kind::MpscBytes => "mpsc_bytes",
            Kind::Semaphore => "semaphore",
            Kind::Pubsub => "pubsub",
            Kind::PubsubReliable => "pubsub_reliable",
        }
    }

    /// Producer workers (they come first: worker `p` is producer `p`).
    pub fn producers(self) -> usize {
        match self {
            Kind::Spsc | Kind::Bytes | Kind::Pubsub | Kind::PubsubReliable => 1,
            Kind::Mpmc | Kind::MpscBytes | Kind::Semaphore => 2,
        }
    }

    /// Consumer workers.
    pub fn consumers(self) -> usize {
        match self {
            Kind::Spsc | Kind::Bytes | Kind::MpscBytes => 1,
            Kind::Mpmc | Kind::Semaphore => 2,
            Kind::Pubsub | Kind::PubsubReliable => 3,
        }
    }

    /// Whether the role is held by one endpoint (a dead holder's role is
    /// taken over, not reclaimed by opening).
    pub fn single(self, producer: bool) -> bool {
        match self {
            Kind::Spsc | Kind::Bytes => true,
            Kind::MpscBytes => !producer,
            Kind::Pubsub | Kind::PubsubReliable => producer,
            Kind::Mpmc | Kind::Semaphore => false,
        }
    }

    /// A `pubsub` topic: every subscriber receives every message.
    pub fn is_topic(self) -> bool {
        matches!(self, Kind::Pubsub | Kind::PubsubReliable)
    }

    /// A channel with liveness (everything but the semaphore).
    pub fn is_channel(self) -> bool {
        self != Kind::Semaphore
    }

    /// Creates the object `name`; the creating endpoint is dropped at once
    /// (the children open every endpoint).
    pub fn create(self, name: &str) -> Result<(), Error> {
        match self {
            Kind::Spsc => drop(spsc::Sender::<Item>::create(name, CAPACITY_ITEMS)?),
            Kind::Mpmc => drop(mpmc::Sender::<Item>::create(name, CAPACITY_ITEMS)?),
            Kind::Bytes => drop(bytes::Sender::create(name, CAPACITY_BYTES)?),
            Kind::MpscBytes => drop(mpsc_bytes::Receiver::create(name, CAPACITY_BYTES)?),
            Kind::Semaphore => {
                let obj = ShmObject::create(name, 4096)?;
                Semaphore::init_with(obj.region(), Options::new(SEM_MAX).waking(true))?;
            }
            Kind::Pubsub | Kind::PubsubReliable => crate::topics::create(self, name)?,
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Messages.

/// An item of the typed channels: `[tag, mix(tag), mix(mix(tag)), !tag]`
/// with `tag = producer << 56 | seq`.
pub type Item = [u64; 4];

/// A 64-bit mixer (splitmix64's finaliser): the checksum of a tag.
pub fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub fn tag(p: usize, seq: u64) -> u64 {
    (p as u64) << 56 | seq
}

fn item(p: usize, seq: u64) -> Item {
    let t = tag(p, seq);
    [t, mix(t), mix(mix(t)), !t]
}

fn check_item(it: Item) -> Result<(), String> {
    let t = it[0];
    if it != [t, mix(t), mix(mix(t)), !t] {
        return Err(format!("item {it:x?}: checksum words do not match its tag"));
    }
    Ok(())
}

/// A byte message: `tag` (8 bytes), length (4), FNV-1a of the body (4),
/// then the body, each byte derived from the tag. Its length follows from
/// the tag: mostly short, one in eight up to `max`.
fn frame_len(t: u64, max: usize) -> usize {
    let h = mix(t ^ 0x5151);
    let body = if h % 8 == 0 {
        (h >> 8) as usize % (max - 16 + 1)
    } else {
        (h >> 8) as usize % 64
    };
    16 + body
}

fn body_byte(h: u64, j: usize) -> u8 {
    (h >> ((j % 8) * 8)) as u8 ^ (j / 8) as u8
}

fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn frame(buf: &mut Vec<u8>, p: usize, seq: u64, max: usize) {
    let t = tag(p, seq);
    let len = frame_len(t, max);
    let h = mix(t);
    buf.clear();
    buf.extend_from_slice(&t.to_le_bytes());
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend((0..len - 16).map(|j| body_byte(h, j)));
    let sum = fnv(&buf[16..]);
    buf[12..16].copy_from_slice(&sum.to_le_bytes());
}

/// The tag of a byte message (`u64::MAX`, which no producer sends, for
/// one too short to hold it).
fn frame_tag(m: &[u8]) -> u64 {
    match m.get(..8) {
        Some(b) => u64::from_le_bytes(b.try_into().unwrap_or([0xff; 8])),
        None => u64::MAX,
    }
}

fn check_frame(m: &[u8], max: usize) -> Result<(), String> {
    if m.len() < 16 {
        return Err(format!("message of {} bytes, under its header", m.len()));
    }
    let word = |a: usize, n: usize| {
        m[a..a + n]
            .iter()
            .rev()
            .fold(0u64, |v, &b| v << 8 | u64::from(b))
    };
    let (t, len, sum) = (word(0, 8), word(8, 4) as usize, word(12, 4) as u32);
    let what = || {
        let (p, seq) = untag(t);
        format!("message {p}:{seq} ({} bytes)", m.len())
    };
    if len != m.len() || len != frame_len(t, max) {
        return Err(format!(
            "{}: length field {len}, {} expected",
            what(),
            frame_len(t, max)
        ));
    }
    if fnv(&m[16..]) != sum {
        return Err(format!(
            "{}: checksum {sum:#x}, body sums to {:#x}",
            what(),
            fnv(&m[16..])
        ));
    }
    let h = mix(t);
    if let Some(j) = (0..len - 16).find(|&j| m[16 + j] != body_byte(h, j)) {
        return Err(format!("{}: body byte {j} is {:#x}", what(), m[16 + j]));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Endpoints.

/// What a receive call got.
pub enum Got {
    /// A message with this tag (`producer << 56 | seq`), not yet checked
    /// ([`Rx::check`]).
    Msg(u64),
    /// A semaphore unit.
    Unit,
    /// A topic's item with this tag, published at ring position `pos`,
    /// not yet checked.
    Sample { tag: u64, pos: u32 },
    /// A topic's report of `n` items lost.
    Lagged(u64),
}

/// The producer and sequence number in a tag.
pub fn untag(tag: u64) -> (usize, u64) {
    ((tag >> 56) as usize, tag & ((1 << 56) - 1))
}

/// A sending endpoint.
pub trait Tx {
    /// Prepares message `seq` of producer `p` (outside the send call, so
    /// that a kill aimed into the call lands in the library).
    fn load(&mut self, p: usize, seq: u64);

    /// Sends the prepared message, waiting at most `timeout`.
    fn send(&mut self, timeout: Duration) -> Result<(), Error>;
}

/// A receiving endpoint.
pub trait Rx {
    /// Receives a message, waiting at most `timeout`; `draining` (the
    /// semaphore): take what is there, `Empty` when nothing is.
    fn recv(&mut self, timeout: Duration, draining: bool) -> Result<Got, Error>;

    /// Checks the message the last `recv` returned: its checksum, and for
    /// byte messages its length.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// Records the ring counts as skipped because their senders died.
    fn skipped(&self) -> u64 {
        0
    }

    /// What holds the receiver up, where the API tells (MPSC bytes: the
    /// stalled record), for a failure report.
    fn stall(&mut self) -> Option<String> {
        None
    }

    /// A topic subscriber's next position and the topic's `tail` now.
    fn positions(&self) -> Option<(u32, u32)> {
        None
    }
}

/// A typed sender and the item it sends next.
struct ItemTx<S> {
    tx: S,
    next: Item,
}

impl Tx for ItemTx<spsc::Sender<Item>> {
    fn load(&mut self, p: usize, seq: u64) {
        self.next = item(p, seq);
    }

    fn send(&mut self, timeout: Duration) -> Result<(), Error> {
        self.tx.send_timeout(self.next, timeout)
    }
}

impl Tx for ItemTx<mpmc::Sender<Item>> {
    fn load(&mut self, p: usize, seq: u64) {
        self.next = item(p, seq);
    }

    fn send(&mut self, timeout: Duration) -> Result<(), Error> {
        self.tx.send_timeout(self.next, timeout)
    }
}

fn item_tx<S>(tx: S) -> Box<ItemTx<S>> {
    Box::new(ItemTx { tx, next: [0; 4] })
}

/// A typed receiver and the last item it got.
struct ItemRx<R> {
    rx: R,
    last: Item,
}

impl Rx for ItemRx<spsc::Receiver<Item>> {
    fn recv(&mut self, timeout: Duration, _: bool) -> Result<Got, Error> {
        self.last = self.rx.recv_timeout(timeout)?;
        Ok(Got::Msg(self.last[0]))
    }

    fn check(&self) -> Result<(), String> {
        check_item(self.last)
    }
}

impl Rx for ItemRx<mpmc::Receiver<Item>> {
    fn recv(&mut self, timeout: Duration, _: bool) -> Result<Got, Error> {
        self.last = self.rx.recv_timeout(timeout)?;
        Ok(Got::Msg(self.last[0]))
    }

    fn check(&self) -> Result<(), String> {
        check_item(self.last)
    }
}

fn item_rx<R>(rx: R) -> Box<ItemRx<R>> {
    Box::new(ItemRx { rx, last: [0; 4] })
}

/// A byte sender (either kind) and its message buffer.
struct BytesTx<S> {
    tx: S,
    max: usize,
    buf: Vec<u8>,
}

impl Tx for BytesTx<bytes::Sender> {
    fn load(&mut self, p: usize, seq: u64) {
        frame(&mut self.buf, p, seq, self.max);
    }

    fn send(&mut self, timeout: Duration) -> Result<(), Error> {
        self.tx.send_timeout(&self.buf, timeout)
    }
}

impl Tx for BytesTx<mpsc_bytes::Sender> {
    fn load(&mut self, p: usize, seq: u64) {
        frame(&mut self.buf, p, seq, self.max);
    }

    fn send(&mut self, timeout: Duration) -> Result<(), Error> {
        self.tx.send_timeout(&self.buf, timeout)
    }
}

/// A byte receiver (either kind), its buffer and the last message's
/// length.
struct BytesRx<R> {
    rx: R,
    max: usize,
    buf: Vec<u8>,
    len: usize,
}

impl<R> BytesRx<R> {
    fn got(&mut self, n: usize) -> Got {
        self.len = n;
        Got::Msg(frame_tag(&self.buf[..n]))
    }
}

impl Rx for BytesRx<bytes::Receiver> {
    fn recv(&mut self, timeout: Duration, _: bool) -> Result<Got, Error> {
        let n = self.rx.recv_timeout(&mut self.buf, timeout)?;
        Ok(self.got(n))
    }

    fn check(&self) -> Result<(), String> {
        check_frame(&self.buf[..self.len], self.max)
    }
}

impl Rx for BytesRx<mpsc_bytes::Receiver> {
    fn recv(&mut self, timeout: Duration, _: bool) -> Result<Got, Error> {
        let n = self.rx.recv_timeout(&mut self.buf, timeout)?;
        Ok(self.got(n))
    }

    fn check(&self) -> Result<(), String> {
        check_frame(&self.buf[..self.len], self.max)
    }

    fn skipped(&self) -> u64 {
        u64::from(self.rx.skipped().records)
    }

    fn stall(&mut self) -> Option<String> {
        Some(match self.rx.stalled() {
            Ok(Some(s)) => format!(
                "stalled record at byte {}: claimant {:?}, length {:?}",
                s.position, s.claimant, s.len
            ),
            Ok(None) => "no stalled record (the ring looks empty)".into(),
            Err(e) => format!("stalled: {e}"),
        })
    }
}

fn bytes_tx<S>(tx: S, max: u32) -> Box<BytesTx<S>> {
    Box::new(BytesTx {
        tx,
        max: max as usize,
        buf: Vec::with_capacity(max as usize),
    })
}

fn bytes_rx<R>(rx: R, max: u32) -> Box<BytesRx<R>> {
    Box::new(BytesRx {
        rx,
        max: max as usize,
        buf: vec![0; max as usize],
        len: 0,
    })
}

/// A producer endpoint on `obj`: attached, or (`take_over`) taken over
/// from a dead holder. The semaphore is opened elsewhere (it borrows the
/// object).
pub fn open_tx(kind: Kind, obj: ShmObject, take_over: bool) -> Result<Box<dyn Tx>, Error> {
    Ok(match (kind, take_over) {
        (Kind::Spsc, false) => item_tx(spsc::Sender::<Item>::attach(obj)?),
        (Kind::Spsc, true) => item_tx(spsc::Sender::<Item>::take_over_on(obj)?),
        (Kind::Bytes, false) => {
            let tx = bytes::Sender::attach(obj)?;
            let max = tx.max_frame_len();
            bytes_tx(tx, max)
        }
        (Kind::Bytes, true) => {
            let tx = bytes::Sender::take_over_on(obj)?;
            let max = tx.max_frame_len();
            bytes_tx(tx, max)
        }
        (Kind::Mpmc, _) => item_tx(mpmc::Sender::<Item>::attach(obj)?),
        (Kind::MpscBytes, _) => {
            let tx = mpsc_bytes::Sender::attach(obj)?;
            let max = tx.max_frame_len();
            bytes_tx(tx, max)
        }
        (Kind::Semaphore, _) => unreachable!("the semaphore is opened in place"),
        (Kind::Pubsub | Kind::PubsubReliable, _) => unreachable!("topics are opened by name"),
    })
}

/// A consumer endpoint on `obj`, as [`open_tx`].
pub fn open_rx(kind: Kind, obj: ShmObject, take_over: bool) -> Result<Box<dyn Rx>, Error> {
    Ok(match (kind, take_over) {
        (Kind::Spsc, false) => item_rx(spsc::Receiver::<Item>::attach(obj)?),
        (Kind::Spsc, true) => item_rx(spsc::Receiver::<Item>::take_over_on(obj)?),
        (Kind::Bytes, false) => {
            let rx = bytes::Receiver::attach(obj)?;
            let max = rx.max_frame_len();
            bytes_rx(rx, max)
        }
        (Kind::Bytes, true) => {
            let rx = bytes::Receiver::take_over_on(obj)?;
            let max = rx.max_frame_len();
            bytes_rx(rx, max)
        }
        (Kind::Mpmc, _) => item_rx(mpmc::Receiver::<Item>::attach(obj)?),
        (Kind::MpscBytes, false) => {
            let rx = mpsc_bytes::Receiver::attach(obj)?;
            let max = rx.max_frame_len();
            bytes_rx(rx, max)
        }
        (Kind::MpscBytes, true) => {
            let rx = mpsc_bytes::Receiver::take_over_on(obj)?;
            let max = rx.max_frame_len();
            bytes_rx(rx, max)
        }
        (Kind::Semaphore, _) => unreachable!("the semaphore is opened in place"),
        (Kind::Pubsub | Kind::PubsubReliable, _) => unreachable!("topics are opened by name"),
    })
}

/// The semaphore attached on `obj` and a handle that sleeps in a shared
/// futex.
pub fn attach_semaphore(obj: &ShmObject) -> Result<Handle<'_, Futex>, Error> {
    Ok(Semaphore::attach(obj.region())?.handle_with(Futex::adaptive(SEM_SPINS))?)
}

/// A poster: each message is one unit.
pub struct SemTx<'a>(pub Handle<'a, Futex>);

impl Tx for SemTx<'_> {
    fn load(&mut self, _: usize, _: u64) {}

    fn send(&mut self, _: Duration) -> Result<(), Error> {
        Ok(self.0.post()?)
    }
}

/// A waiter: each unit taken is one message.
pub struct SemRx<'a>(pub Handle<'a, Futex>);

impl Rx for SemRx<'_> {
    fn recv(&mut self, timeout: Duration, draining: bool) -> Result<Got, Error> {
        if draining {
            self.0.try_wait()?;
        } else {
            self.0.wait_timeout(Some(timeout))?;
        }
        Ok(Got::Unit)
    }
}

/// The semaphore's count, read by the harness at the end.
pub fn semaphore_value(name: &str) -> Result<u32, Error> {
    let obj = ShmObject::open(name)?;
    Ok(Semaphore::attach(obj.region())?.value()?)
}

/// Errors after which a call is simply tried again: the peer is being
/// restarted, or the channel is full or empty for now.
pub fn retry(e: &Error) -> bool {
    e.is_peer_gone() || e.is_timeout() || e.is_full() || e.is_empty()
}
