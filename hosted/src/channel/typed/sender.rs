//! The typed sending endpoint: encodes into a buffer it keeps, bounded by
//! the ring's largest frame, then sends the bytes.

use std::marker::PhantomData;
use std::time::Duration;

use postcard::ser_flavors::Flavor;
use serde::Serialize;

use super::MessageType;
use super::ends::ByteSender;
use crate::channel::{Builder, Endpoint, Memory, TakeOver, bytes, mpsc_bytes};
use crate::error::{Error, Result};

/// The sending end of a typed channel: values of `T` as postcard messages
/// over the byte endpoint `B` ([`bytes::Sender`] by default; see
/// [`MpscSender`] for the MPSC form). The [module docs](super) have the
/// type-id rule and what each error means.
///
/// ```
/// use ipckit::channel::typed::{Receiver, Sender};
///
/// let name = format!("ipckit-doc-typed-tx-{}", std::process::id());
/// let mut tx = Sender::<String>::create(&name, 4096)?;
/// let mut rx = Receiver::<String>::open(&name)?;
/// ipckit::shm::ShmObject::remove(&name)?;
/// tx.send(&"hello".to_owned())?;
/// assert_eq!(rx.try_recv()?, "hello");
/// // Longer than the largest frame (half the capacity less 8): refused.
/// assert!(matches!(tx.try_send(&"x".repeat(3000)), Err(ipckit::Error::MessageTooLarge { .. })));
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct Sender<T, B = bytes::Sender> {
    end: B,
    buf: Vec<u8>,
    _type: PhantomData<fn(&T)>,
}

/// A typed sender over an [MPSC byte channel](mod@mpsc_bytes): up to 64 of
/// them per channel, each in its own process (or thread).
///
/// ```
/// use ipckit::channel::typed::{MpscReceiver, MpscSender};
///
/// let name = format!("ipckit-doc-typed-mpsc-{}", std::process::id());
/// let mut rx = MpscReceiver::<(u32, String)>::create(&name, 4096)?;
/// let mut a = MpscSender::<(u32, String)>::open(&name)?;
/// let mut b = MpscSender::<(u32, String)>::open(&name)?;
/// ipckit::shm::ShmObject::remove(&name)?;
/// a.send(&(1, "from a".into()))?;
/// b.send(&(2, "from b".into()))?;
/// assert_eq!(rx.recv()?, (1, "from a".to_owned()));
/// assert_eq!(rx.recv()?, (2, "from b".to_owned()));
/// # Ok::<(), ipckit::Error>(())
/// ```
pub type MpscSender<T> = Sender<T, mpsc_bytes::Sender>;

impl<T, B: ByteSender> std::fmt::Debug for Sender<T, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(B::WHAT)
            .field("type", &std::any::type_name::<T>())
            .field("mem", self.end.memory())
            .finish_non_exhaustive()
    }
}

/// Appends to a buffer, failing once it would pass `limit` bytes: a
/// message that cannot be sent is not encoded to its end.
struct Bounded<'a> {
    buf: &'a mut Vec<u8>,
    limit: usize,
}

impl Flavor for Bounded<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if data.len() > self.limit - self.buf.len() {
            return Err(postcard::Error::SerializeBufferFull);
        }
        // Most pieces are varints and tags of a few bytes: a call to
        // `memmove` for each costs more than the copy (measured, bench
        // `typed`).
        if data.len() <= 16 {
            data.iter().for_each(|&b| self.buf.push(b));
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        if self.buf.len() >= self.limit {
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.buf.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// The constructors: thin forms of the [typed builder](super::spsc())
/// (`typed::spsc::<T>()` / `typed::mpsc::<T>()`), which has the other
/// settings (`max_message`, `mode`, `trust`, `type_id`, ...).
impl<T: Serialize + MessageType, B: ByteSender> Sender<T, B>
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
    /// `typed::spsc::<T>().pair_from_child()`), stating `T`'s type id; as
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

impl<T: Serialize + MessageType, B: ByteSender> Sender<T, B> {
    /// Sends `value`, or [`Error::Full`] at once (nothing sent);
    /// [`Error::MessageTooLarge`] if its encoding is longer than
    /// [`max_frame_len`](Self::max_frame_len).
    pub fn try_send(&mut self, value: &T) -> Result<()> {
        self.encode(value)?;
        self.end.try_send(&self.buf)
    }

    /// Sends `value`, waiting while there is no room; [`Error::PeerGone`]
    /// if the receiver closed or died meanwhile (then it is not sent).
    pub fn send(&mut self, value: &T) -> Result<()> {
        self.encode(value)?;
        self.end.send_for(&self.buf, None)
    }

    /// [`send`](Self::send), waiting at most `timeout`:
    /// [`Error::TimedOut`] (nothing sent).
    pub fn send_timeout(&mut self, value: &T, timeout: Duration) -> Result<()> {
        self.encode(value)?;
        self.end.send_for(&self.buf, Some(timeout))
    }

    /// Encodes `value` into `self.buf`, bounded by the largest frame.
    fn encode(&mut self, value: &T) -> Result<()> {
        self.buf.clear();
        let max = self.end.max_frame_len();
        let flavor = Bounded {
            buf: &mut self.buf,
            limit: max as usize,
        };
        postcard::serialize_with_flavor(value, flavor).map_err(|e| {
            let channel = self.end.memory().describe();
            match e {
                postcard::Error::SerializeBufferFull => Error::MessageTooLarge { channel, max },
                other => Error::Encode {
                    channel,
                    reason: other.to_string(),
                },
            }
        })
    }
}

impl<T: Serialize + MessageType, B: ByteSender> Sender<T, B>
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

impl<T, B: ByteSender> Sender<T, B> {
    /// The typed end over `end` (the builder's way in).
    pub(super) fn new(end: B) -> Self {
        Self {
            end,
            buf: Vec::new(),
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
