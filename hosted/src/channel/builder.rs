//! Options builders: the one way every channel endpoint comes to be.
//!
//! [`spsc`], [`mpmc`], [`bytes`] and [`mpsc_bytes`] each start a
//! [`Builder`] of that kind (as do `typed::spsc` and `typed::mpsc` for
//! [typed channels](super::typed) and [`pubsub::topic`](crate::pubsub::topic)
//! for topics). Settings come first (`capacity`, for the
//! byte kinds `max_message` and `messages`, the object's `mode` and the
//! `trust` an open needs), then one terminal call makes an endpoint:
//!
//! | terminal call | memory | the channel |
//! |---|---|---|
//! | [`create`](Builder::create) | a new named object (must not exist) | initialised |
//! | [`open`](Builder::open) | an existing named object | validated, attached |
//! | [`open_or_create`](Builder::open_or_create) | either | either |
//! | [`take_over`](Builder::take_over) | an existing named object | attached, the role taken from a dead holder (single-holder roles) |
//! | [`init_on`](Builder::init_on) / [`attach`](Builder::attach) / [`take_over_on`](Builder::take_over_on) | memory you mapped ([`Memory`]: a memfd, a file, a named object) | as the three above |
//! | [`on_file`](Builder::on_file) | a [`MappedFile`](crate::shm::MappedFile), created or opened | either |
//! | [`pair`](Builder::pair) | a sealed anonymous memfd | both ends, in this process |
//! | [`pair_for_child`](Builder::pair_for_child) / [`pair_from_child`](Builder::pair_from_child) | a sealed anonymous memfd | one end here, the other a [`ChildEnd`] for a child process |
//!
//! **Which end** a terminal call makes is the type you ask for: every
//! terminal call is generic over the [`Endpoint`] of the builder's kind,
//! so `let tx: spsc::Sender<u64> = channel::spsc().create("jobs")?;`
//! makes a sender (and infers `u64` for the builder), and
//! `.open::<spsc::Receiver<u64>>("jobs")` a receiver. The pairs return
//! both ends, so need no annotation.
//!
//! # Sizes
//! Any capacity of at least 1 is accepted and rounded up to what the ring
//! needs; the endpoint's `capacity()` reports the figure used
//! ([`effective_capacity`](Builder::effective_capacity) tells it before).
//!
//! - [`spsc`]: items, rounded up to a power of two (1 to 2^31).
//! - [`mpmc`]: items, rounded up to a power of two of at least 2 (to 2^30).
//! - [`bytes`], [`mpsc_bytes`]: the data area in bytes, the smallest power
//!   of two (16 to 2^31) that is at least each of: `capacity` (if set);
//!   with [`max_message`](Builder::max_message)`(m)`,
//!   `(messages + 1) × record(m)`, where `record(m)` is `m + 8` rounded up
//!   to 8 (the frame record) and `messages` is
//!   [`messages`](Builder::messages)`(k)` or 1. So the largest message
//!   ([`max_frame_len`](super::bytes::Sender::max_frame_len), half the
//!   data area less 8) is at least `m`, and `k` messages of `m` bytes fit
//!   into the empty ring at once wherever its positions stand (the padding
//!   a wrap leaves is shorter than one record). With neither `capacity`
//!   nor `max_message`, [`DEFAULT_BYTES`].
//!
//! Without `capacity`, the item kinds take [`DEFAULT_ITEMS`]. A setting
//! no ring can take (a capacity of 0, more than the maximum,
//! `messages(0)`, `messages` without `max_message`) is
//! [`Error::Channel`] with [`CoreError::InvalidCapacity`] naming the
//! channel, from the terminal call; nothing is created. The size settings
//! matter only where a channel is created: `open` and `attach` take the
//! channel as its creator sized it (check `capacity()` or
//! `max_frame_len()` if it matters).
//!
//! ```
//! use ipckit::channel::{self, spsc};
//!
//! let name = format!("ipckit-doc-builder-{}", std::process::id());
//! let mut tx: spsc::Sender<u64> = channel::spsc().capacity(1000).create(&name)?;
//! let mut rx: spsc::Receiver<u64> = channel::spsc().open(&name)?;
//! assert_eq!(rx.capacity(), 1024); // rounded up
//! tx.send(7)?;
//! assert_eq!(rx.recv()?, 7);
//! ipckit::shm::ShmObject::remove(&name)?;
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::marker::PhantomData;
use std::path::Path;

use ipckit_core::Pod;
use ipckit_core::frame::{MAX_CAPACITY, record_len};
use ipckit_core::place::{self, Layout};

use super::pair::ChildEnd;
use super::setup::{self, Mode, Object};
use super::{Memory, object_len};
use crate::error::{CoreError, Error, Result};
use crate::shm::{Memfd, Trust};

mod kinds;
pub(crate) use kinds::sealed;
pub use kinds::{
    ByteKind, Bytes, DEFAULT_BYTES, DEFAULT_ITEMS, Endpoint, Kind, Mpmc, MpscBytes, Spsc, TakeOver,
};
use sealed::Endpoint as _;

/// A builder of [SPSC channels](mod@super::spsc) of `T` (see the [module
/// docs](self) for the settings and terminal calls).
///
/// ```
/// use ipckit::channel;
///
/// let (mut tx, mut rx) = channel::spsc::<u64>().capacity(64).pair()?;
/// tx.send(1)?;
/// assert_eq!(rx.recv()?, 1);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn spsc<T: Pod>() -> Builder<Spsc<T>> {
    Builder::new()
}

/// A builder of [MPMC channels](mod@super::mpmc) of `T`.
///
/// ```
/// use ipckit::channel;
///
/// let (tx, rx) = channel::mpmc::<u32>().capacity(100).pair()?;
/// let tx2 = tx.try_clone()?;
/// tx.send(1)?;
/// tx2.send(2)?;
/// assert_eq!((rx.recv()?, rx.recv()?, rx.capacity()), (1, 2, 128));
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn mpmc<T: Pod>() -> Builder<Mpmc<T>> {
    Builder::new()
}

/// A builder of [byte-message SPSC channels](mod@super::bytes).
///
/// ```
/// use ipckit::channel;
///
/// let (mut tx, mut rx) = channel::bytes().max_message(1500).messages(8).pair()?;
/// assert!(tx.max_frame_len() >= 1500);
/// tx.send(&[7; 1500])?;
/// let mut buf = [0; 1500];
/// assert_eq!(rx.recv(&mut buf)?, 1500);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn bytes() -> Builder<Bytes> {
    Builder::new()
}

/// A builder of [byte-message MPSC channels](mod@super::mpsc_bytes).
///
/// ```
/// use ipckit::channel;
///
/// let (tx, mut rx) = channel::mpsc_bytes().capacity(4096).pair()?;
/// tx.send(b"hi")?;
/// let mut buf = [0; 16];
/// assert_eq!(rx.recv(&mut buf)?, 2);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn mpsc_bytes() -> Builder<MpscBytes> {
    Builder::new()
}

/// The options of a channel of kind `K`, and the calls that make its
/// endpoints: start one with [`spsc()`], [`mpmc()`], [`bytes()`] or
/// [`mpsc_bytes()`]; the [module docs](self) have the rules. Settings take
/// and return the builder; terminal calls borrow it, so one builder can
/// make several endpoints.
///
/// ```
/// use ipckit::channel::{self, bytes};
///
/// let name = format!("ipckit-doc-builder-type-{}", std::process::id());
/// let b = channel::bytes().max_message(200).mode(0o600);
/// let mut tx: bytes::Sender = b.open_or_create(&name)?; // creates
/// let mut rx: bytes::Receiver = b.open_or_create(&name)?; // opens
/// assert_eq!(rx.capacity(), b.effective_capacity()?);
/// tx.send(&[1; 200])?;
/// assert_eq!(rx.recv(&mut [0; 200])?, 200);
/// ipckit::shm::ShmObject::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
#[must_use = "a builder makes nothing until a terminal call (create, open, pair, ...)"]
pub struct Builder<K> {
    capacity: Option<u64>,
    max_message: Option<u64>,
    messages: Option<u64>,
    type_id: Option<u64>,
    object: Object,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Builder<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Builder<K> {}

impl<K: Kind> Default for Builder<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Kind> std::fmt::Debug for Builder<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("kind", &K::NAME)
            .field("capacity", &self.capacity)
            .field("max_message", &self.max_message)
            .field("messages", &self.messages)
            .field("type_id", &format_args!("{:#018x}", self.stated_type_id()))
            .field("mode", &format_args!("{:#o}", self.object.mode))
            .field("trust", &self.object.trust)
            .finish()
    }
}

/// `n` as a setting: anything past `u64` is refused later as too large.
fn setting(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The error of a setting no ring of the channel `what` can take.
fn invalid(what: &str) -> Error {
    Error::Channel {
        name: what.to_owned(),
        error: CoreError::InvalidCapacity,
        dead_holder: None,
    }
}

impl<K: Kind> Builder<K> {
    /// The default settings: [`DEFAULT_ITEMS`] or [`DEFAULT_BYTES`],
    /// mode 0600, [`Trust::Owner`].
    pub fn new() -> Self {
        Self {
            capacity: None,
            max_message: None,
            messages: None,
            type_id: None,
            object: Object::default(),
            kind: PhantomData,
        }
    }

    /// The capacity: items for [`spsc()`] and [`mpmc()`], bytes of data
    /// area for [`bytes()`] and [`mpsc_bytes()`]; rounded up as the
    /// [module docs](self#sizes) say.
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = Some(setting(n));
        self
    }

    /// The permission bits a created object or file gets, exactly (the
    /// umask does not reduce them); default 0600. Ignored by the memfd
    /// calls (`pair`, ...), which no other process can open by name. An
    /// object that the group may write must be opened with
    /// [`trust`](Self::trust)`(Trust::Group)`.
    pub fn mode(mut self, mode: u32) -> Self {
        self.object.mode = mode;
        self
    }

    /// What an open by name or path accepts (see [`Trust`]); default
    /// [`Trust::Owner`].
    pub fn trust(mut self, trust: Trust) -> Self {
        self.object.trust = trust;
        self
    }

    /// The message type id the endpoints state (`docs/LAYOUT.md` §12):
    /// a creator records it, an opener compares it (or records it where
    /// none is), and a different id is [`Error::TypeMismatch`] naming the
    /// channel and both ids, the opener leaving no trace. 0 opts out: this
    /// side neither records nor compares. Default: for [`spsc()`],
    /// [`mpmc()`] and topics [`pod_type_id`] of the item type (its path,
    /// size and alignment), for the byte kinds 0. State an id explicitly
    /// ([`type_id_of`] of a versioned name) for peers built apart or in C.
    ///
    /// ```
    /// use ipckit::channel::{self, liveness::type_id_of};
    ///
    /// let name = format!("ipckit-doc-type-id-{}", std::process::id());
    /// let pose = type_id_of("robot/Pose v1");
    /// let _tx: channel::spsc::Sender<[f32; 7]> =
    ///     channel::spsc().type_id(pose).create(&name)?;
    /// // The default id is another: refused; the stated one accepted.
    /// let wrong = channel::spsc::<[f32; 7]>().open::<channel::spsc::Receiver<_>>(&name);
    /// assert!(matches!(wrong, Err(ipckit::Error::TypeMismatch { .. })));
    /// let _rx: channel::spsc::Receiver<[f32; 7]> =
    ///     channel::spsc().type_id(pose).open(&name)?;
    /// ipckit::shm::ShmObject::remove(&name)?;
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    ///
    /// [`pod_type_id`]: super::liveness::pod_type_id
    /// [`type_id_of`]: super::liveness::type_id_of
    pub fn type_id(mut self, id: u64) -> Self {
        self.type_id = Some(id);
        self
    }

    /// The object settings (mode, trust), for builders that wrap this one.
    pub(crate) fn object(&self) -> Object {
        self.object
    }

    /// The message type id these settings state (0: none).
    pub fn stated_type_id(&self) -> u64 {
        self.type_id.unwrap_or_else(K::default_type_id)
    }

    /// The capacity a channel created with these settings has, as its
    /// endpoints' `capacity()` reports it (the [module docs](self#sizes)
    /// have the rule).
    pub fn effective_capacity(&self) -> Result<u32> {
        self.ring_capacity().ok_or_else(|| invalid(K::NAME))
    }

    /// The length of a channel object with these settings: what a memfd
    /// or file given to [`init_on`](Self::init_on) needs.
    ///
    /// ```
    /// let b = ipckit::channel::spsc::<u64>().capacity(64);
    /// let memfd = ipckit::shm::Memfd::create("doc", b.object_len()?)?;
    /// let tx: ipckit::channel::spsc::Sender<u64> = b.init_on(memfd)?;
    /// assert_eq!(tx.capacity(), 64);
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn object_len(&self) -> Result<usize> {
        self.sized(K::NAME).map(|(_, len)| len)
    }

    /// The ring's capacity for these settings, `None` if no ring takes it.
    fn ring_capacity(&self) -> Option<u32> {
        let min = u64::from(K::Layout::MIN_CAPACITY);
        let mut need = match (self.capacity, self.max_message) {
            (Some(0), _) => return None,
            (Some(n), _) => n,
            (None, None) => u64::from(K::DEFAULT),
            (None, Some(_)) => min,
        };
        match (self.max_message, self.messages) {
            (Some(len), messages) => {
                // Longer than any data area: no ring takes it.
                let len = u32::try_from(len).ok().filter(|&l| l <= MAX_CAPACITY)?;
                let records = messages.unwrap_or(1).checked_add(1).filter(|&r| r > 1)?;
                need = need.max(records.checked_mul(u64::from(record_len(len)))?);
            }
            (None, Some(_)) => return None,
            (None, None) => {}
        }
        let capacity = u32::try_from(need.max(min).checked_next_power_of_two()?).ok()?;
        (capacity <= K::Layout::MAX_CAPACITY).then_some(capacity)
    }

    /// The capacity and the object's length, or [`invalid`] naming `what`.
    fn sized(&self, what: &str) -> Result<(u32, usize)> {
        self.ring_capacity()
            .and_then(|c| {
                let core = place::region_len::<K::Layout>(c).ok()?;
                Some((c, object_len(core)?))
            })
            .ok_or_else(|| invalid(what))
    }

    /// An endpoint on the object `name`, created and/or opened.
    fn named<E: Endpoint<Kind = K>>(&self, name: &str, create: bool, open: bool) -> Result<E> {
        let (capacity, len) = match create {
            true => self.sized(name)?,
            false => (0, 0),
        };
        let (mem, mode) = setup::named_with(name, len, create, open, self.object)?;
        E::set_up(mem, mode, capacity, self.stated_type_id())
    }

    /// Creates the channel `name` (it must not exist:
    /// [`Error::AlreadyExists`]; of racing creators exactly one wins) and
    /// makes the end `E`. The name is a service name (`"jobs"`,
    /// `"robot/arm/state"`; see [names](super#names)). Example: the
    /// [module docs](self).
    pub fn create<E: Endpoint<Kind = K>>(&self, name: &str) -> Result<E> {
        self.named(name, true, false)
    }

    /// Opens the existing channel `name` (validating it) and makes the end
    /// `E`; the size settings do not matter. [`Error::NotFound`] if it
    /// does not exist; [`CoreError::RoleTaken`] if the end is a
    /// single-holder role another endpoint holds.
    pub fn open<E: Endpoint<Kind = K>>(&self, name: &str) -> Result<E> {
        self.named(name, false, true)
    }

    /// Opens the channel `name`, or creates it with these settings if it
    /// does not exist. Example: [`Builder`].
    pub fn open_or_create<E: Endpoint<Kind = K>>(&self, name: &str) -> Result<E> {
        self.named(name, true, true)
    }

    /// Opens the existing channel `name` and makes the end `E`, taking its
    /// role over if the recorded holder is a dead process (pid and start
    /// time); [`CoreError::RoleTaken`] if it lives.
    pub fn take_over<E: TakeOver<Kind = K>>(&self, name: &str) -> Result<E> {
        let (mem, _) = setup::named_with(name, 0, false, true, self.object)?;
        E::set_up(mem, Mode::TakeOver, 0, self.stated_type_id())
    }

    /// Creates a channel on fresh, zeroed `mem` of at least
    /// [`object_len`](Self::object_len) bytes and makes the end `E`
    /// ([`CoreError::AlreadyInitialized`] if `mem` holds a header).
    /// Example: [`object_len`](Self::object_len).
    pub fn init_on<E: Endpoint<Kind = K>>(&self, mem: impl Into<Memory>) -> Result<E> {
        let mem = mem.into();
        let (capacity, _) = self.sized(&mem.describe())?;
        E::set_up(mem, Mode::Init, capacity, self.stated_type_id())
    }

    /// Attaches to the channel in `mem` (validating header, sizes and
    /// liveness block, waiting up to 2 s for a creator that has not
    /// published it yet) and makes the end `E`.
    pub fn attach<E: Endpoint<Kind = K>>(&self, mem: impl Into<Memory>) -> Result<E> {
        E::set_up(mem.into(), Mode::Attach, 0, self.stated_type_id())
    }

    /// [`take_over`](Self::take_over) on memory the caller mapped.
    pub fn take_over_on<E: TakeOver<Kind = K>>(&self, mem: impl Into<Memory>) -> Result<E> {
        E::set_up(mem.into(), Mode::TakeOver, 0, self.stated_type_id())
    }

    /// The channel in the file `path`: created with these settings and
    /// [`mode`](Self::mode) if the file does not exist (`O_EXCL`; the
    /// file is removed again if the set-up fails), else opened (checked
    /// by [`trust`](Self::trust)) and attached. The file outlives every
    /// process; remove it with
    /// [`MappedFile::remove`](crate::shm::MappedFile::remove).
    ///
    /// ```
    /// use ipckit::channel::{self, spsc};
    ///
    /// let path = std::env::temp_dir().join(format!("ipckit-doc-file-{}", std::process::id()));
    /// let mut tx: spsc::Sender<u32> = channel::spsc().capacity(8).on_file(&path)?;
    /// let mut rx: spsc::Receiver<u32> = channel::spsc().on_file(&path)?;
    /// tx.send(5)?;
    /// assert_eq!(rx.recv()?, 5);
    /// ipckit::shm::MappedFile::remove(&path)?;
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn on_file<E: Endpoint<Kind = K>>(&self, path: impl AsRef<Path>) -> Result<E> {
        let path = path.as_ref();
        let (capacity, len) = self.sized(&path.display().to_string())?;
        let (mem, mode) = setup::file(path, len, self.object)?;
        E::set_up(mem, mode, capacity, self.stated_type_id())
    }

    /// A fresh sealed memfd for a channel of these settings, a second
    /// mapping of it, and the capacity.
    fn memfds(&self) -> Result<(Memfd, Memfd, u32)> {
        let what = format!("{} pair", K::NAME);
        let (capacity, len) = self.sized(&what)?;
        let memfd = Memfd::create(&format!("ipckit-{}", K::NAME), len)?;
        let other = Memfd::from_fd(memfd.try_clone_fd()?)?;
        Ok((memfd, other, capacity))
    }

    /// Both ends of a new channel on an anonymous memfd, sealed against
    /// shrinking and growing: as [`std::sync::mpsc::channel`], for
    /// threads. Example: [`spsc()`]. The memory goes with the last end.
    pub fn pair(&self) -> Result<(K::Sender, K::Receiver)> {
        let (memfd, other, capacity) = self.memfds()?;
        let id = self.stated_type_id();
        let tx = K::Sender::set_up(memfd.into(), Mode::Init, capacity, id)?;
        let rx = K::Receiver::set_up(other.into(), Mode::Attach, 0, id)?;
        Ok((tx, rx))
    }

    /// A new channel on a sealed memfd whose receiving end goes to a child
    /// process: the sender, claimed by this process, and the receiver as a
    /// [`ChildEnd`] not claimed yet, for the child to claim (after `fork`:
    /// [`ChildEnd::claim`]; spawned: [`ChildEnd::pass_to`], then
    /// `from_inherited` in the child). Example: [`ChildEnd`].
    pub fn pair_for_child(&self) -> Result<(K::Sender, ChildEnd<K::Receiver>)> {
        let (memfd, other, capacity) = self.memfds()?;
        let id = self.stated_type_id();
        let tx = K::Sender::set_up(memfd.into(), Mode::Init, capacity, id)?;
        Ok((tx, ChildEnd::new(other, id)))
    }

    /// [`pair_for_child`](Self::pair_for_child) the other way round: the
    /// receiver here, the sender for the child.
    ///
    /// ```
    /// use ipckit::channel;
    ///
    /// let (mut rx, tx_end) = channel::bytes().capacity(4096).pair_from_child()?;
    /// // (In a forked child:)
    /// let mut tx = tx_end.claim()?;
    /// tx.send(b"done")?;
    /// assert_eq!(rx.recv(&mut [0; 8])?, 4);
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn pair_from_child(&self) -> Result<(K::Receiver, ChildEnd<K::Sender>)> {
        let (memfd, other, capacity) = self.memfds()?;
        let id = self.stated_type_id();
        let rx = K::Receiver::set_up(memfd.into(), Mode::Init, capacity, id)?;
        Ok((rx, ChildEnd::new(other, id)))
    }
}

impl<K: ByteKind> Builder<K> {
    /// Sizes the data area so that a message of `len` bytes fits
    /// (`max_frame_len() >= len`), with room for
    /// [`messages`](Self::messages) of them queued at once (the [module
    /// docs](self#sizes) have the rule).
    pub fn max_message(mut self, len: usize) -> Self {
        self.max_message = Some(setting(len));
        self
    }

    /// With [`max_message`](Self::max_message)`(len)`: room for `k`
    /// messages of `len` bytes queued at once (default 1).
    pub fn messages(mut self, k: usize) -> Self {
        self.messages = Some(setting(k));
        self
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod type_id_tests;
