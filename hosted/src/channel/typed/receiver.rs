//! The typed receiving endpoint: receives into a buffer it keeps (grown
//! to the longest message seen), then decodes.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::MessageType;
use super::ends::ByteReceiver;
use crate::channel::{Builder, Endpoint, Memory, TakeOver, bytes, mpsc_bytes};
use crate::error::{CoreError, Error, Result};

/// The first receive buffer, grown on demand up to the largest frame.
const FIRST_BUF: usize = 256;

/// The receiving end of a typed channel: values of `T` decoded from
/// postcard messages of the byte endpoint `B` ([`bytes::Receiver`] by
/// default; see [`MpscReceiver`]). The [module docs](super) have the
/// type-id rule and what each error means.
///
/// ```
/// use ipckit::channel::typed::{Receiver, Sender};
///
/// let name = format!("ipckit-doc-typed-rx-{}", std::process::id());
/// let mut rx = Receiver::<Vec<u64>>::create(&name, 4096)?;
/// // A sender of another type is refused when it opens.
/// assert!(matches!(Sender::<String>::open(&name), Err(ipckit::Error::TypeMismatch { .. })));
/// let mut tx = Sender::<Vec<u64>>::open(&name)?;
/// ipckit::shm::ShmObject::remove(&name)?;
/// assert!(rx.try_recv().unwrap_err().is_empty());
/// tx.send(&vec![1, 2, 3])?;
/// assert_eq!(rx.recv()?, [1, 2, 3]);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct Receiver<T, B = bytes::Receiver> {
    end: B,
    buf: Vec<u8>,
    _type: PhantomData<fn() -> T>,
}

/// A typed receiver over an [MPSC byte channel](mod@mpsc_bytes): the one
/// receiver of up to 64 [`MpscSender`](super::MpscSender)s.
///
/// ```
/// use ipckit::channel::typed::{MpscReceiver, MpscSender};
///
/// let name = format!("ipckit-doc-typed-mpsc-rx-{}", std::process::id());
/// let mut rx = MpscReceiver::<u64>::create(&name, 4096)?;
/// let mut tx = MpscSender::<u64>::open(&name)?;
/// ipckit::shm::ShmObject::remove(&name)?;
/// tx.send(&7)?;
/// assert_eq!(rx.recv()?, 7);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub type MpscReceiver<T> = Receiver<T, mpsc_bytes::Receiver>;

impl<T, B: ByteReceiver> std::fmt::Debug for Receiver<T, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(B::WHAT)
            .field("type", &std::any::type_name::<T>())
            .field("mem", self.end.memory())
            .finish_non_exhaustive()
    }
}

/// The constructors: thin forms of the [typed builder](super::spsc())
/// (`typed::spsc::<T>()` / `typed::mpsc::<T>()`), which has the other
/// settings (`max_message`, `mode`, `trust`, `type_id`, ...).
impl<T: DeserializeOwned + MessageType, B: ByteReceiver> Receiver<T, B>
where
    Self: Endpoint,
{
    fn builder() -> Builder<<Self as Endpoint>::Kind> {
        Builder::new()
    }

    /// Creates the channel `name` (which must not exist) with a data area
    /// of at least `capacity` bytes (rounded up to a power of two), recording
    /// `T`'s type id, and opens this end.
    pub fn create(name: &str, capacity: u32) -> Result<Self> {
        Self::builder().capacity(capacity as usize).create(name)
    }

    /// Opens the existing channel `name`: [`Error::TypeMismatch`] if it
    /// records another type id than `T`'s.
    pub fn open(name: &str) -> Result<Self> {
        Self::builder().open(name)
    }

    /// Opens `name`, or creates it with `capacity` if it does not exist.
    pub fn open_or_create(name: &str, capacity: u32) -> Result<Self> {
        Self::builder()
            .capacity(capacity as usize)
            .open_or_create(name)
    }

    /// Creates a channel of `capacity` bytes on fresh, zeroed `mem` (of at
    /// least the byte endpoint's `object_len`), as
    /// [`create`](Self::create).
    pub fn init_on(mem: impl Into<Memory>, capacity: u32) -> Result<Self> {
        Self::builder().capacity(capacity as usize).init_on(mem)
    }

    /// Attaches to the channel in `mem`, as [`open`](Self::open).
    pub fn attach(mem: impl Into<Memory>) -> Result<Self> {
        Self::builder().attach(mem)
    }

    /// The end a child process was handed by
    /// [`ChildEnd::pass_to`](crate::channel::ChildEnd::pass_to) (from
    /// `typed::spsc::<T>().pair_for_child()`), stating `T`'s type id; as
    /// the byte endpoints' `from_inherited`.
    ///
    /// # Safety
    /// As [`Memfd::from_env`](crate::shm::Memfd::from_env): the descriptor
    /// named by `var` must be owned by nothing else in this process.
    pub unsafe fn from_inherited(var: &str) -> Result<Self> {
        // SAFETY: the caller's contract, forwarded.
        unsafe { crate::channel::pair::inherited(var) }
    }
}

impl<T: DeserializeOwned + MessageType, B: ByteReceiver> Receiver<T, B> {
    /// The oldest message, or [`Error::Empty`] at once;
    /// [`Error::Decode`] (the message consumed) if it is not a `T`.
    pub fn try_recv(&mut self) -> Result<T> {
        self.recv_with(|end, buf| end.try_recv(buf))
    }

    /// [`try_recv`](Self::try_recv), waiting while the channel is empty;
    /// [`Error::PeerGone`] once it is empty and every sender closed or
    /// died.
    pub fn recv(&mut self) -> Result<T> {
        self.recv_with(|end, buf| end.recv_for(buf, None))
    }

    /// [`recv`](Self::recv), waiting at most `timeout`:
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        self.recv_with(|end, buf| end.recv_for(buf, Some(timeout)))
    }

    /// Receives with `op` into the buffer, growing it while the waiting
    /// message does not fit (it stays queued meanwhile), then decodes.
    fn recv_with(&mut self, mut op: impl FnMut(&mut B, &mut [u8]) -> Result<usize>) -> Result<T> {
        // Twice is enough (the message at the head does not change while
        // it waits); a bound all the same.
        for _ in 0..4 {
            match op(&mut self.end, &mut self.buf) {
                Ok(len) => return self.decode(len),
                Err(Error::Core(CoreError::BufferTooSmall { required }))
                    if required > self.buf.len()
                        && required <= self.end.max_frame_len() as usize =>
                {
                    self.buf.resize(required, 0);
                }
                Err(e) => return Err(e),
            }
        }
        Err(CoreError::Corrupted("frame length changed while queued").into())
    }

    /// Decodes the `len` bytes received: the whole message must be one `T`.
    fn decode(&self, len: usize) -> Result<T> {
        let bytes = &self.buf[..len];
        let failed = |reason: String| Error::Decode {
            channel: self.end.memory().describe(),
            len,
            reason,
        };
        match postcard::take_from_bytes::<T>(bytes) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(failed(format!(
                "{} bytes left over after the value",
                rest.len()
            ))),
            Err(e) => Err(failed(e.to_string())),
        }
    }
}

impl<T: DeserializeOwned + MessageType, B: ByteReceiver> Receiver<T, B>
where
    Self: TakeOver,
{
    /// Opens the existing channel `name` and takes this end over if its
    /// recorded holder is a dead process (the byte endpoint's
    /// `take_over`): the new endpoint resumes at the published position.
    /// [`Error::TypeMismatch`] as for [`open`](Self::open), checked first.
    pub fn take_over(name: &str) -> Result<Self> {
        Builder::<<Self as Endpoint>::Kind>::new().take_over(name)
    }
}

impl<T, B: ByteReceiver> Receiver<T, B> {
    /// The typed end over `end` (the builder's way in).
    pub(super) fn new(end: B) -> Self {
        let first = FIRST_BUF.min(end.max_frame_len() as usize);
        Self {
            end,
            buf: vec![0; first],
            _type: PhantomData,
        }
    }

    /// The largest encoded message the channel takes, in bytes.
    pub fn max_frame_len(&self) -> u32 {
        self.end.max_frame_len()
    }

    /// The byte endpoint underneath (for `peer_gone`, `memory`, ...).
    pub fn as_bytes(&self) -> &B {
        &self.end
    }
}
