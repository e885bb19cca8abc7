//! The channel kinds a [`Builder`](super::Builder) is generic over, and
//! the ends each kind has: the sealed traits that tie an endpoint type to
//! the builder's set-up path.

use std::marker::PhantomData;

use ipckit_core::Pod;
use ipckit_core::place::Layout;

use crate::channel::liveness::pod_type_id;
use crate::channel::setup::Mode;
use crate::channel::spsc as spsc_ch;
use crate::channel::{Memory, bytes as bytes_ch, mpmc as mpmc_ch, mpsc_bytes as mpsc_bytes_ch};
use crate::error::Result;

/// The capacity of an item channel ([`spsc()`](super::spsc()),
/// [`mpmc()`](super::mpmc())) built without
/// [`capacity`](super::Builder::capacity): 1024 items.
pub const DEFAULT_ITEMS: u32 = 1024;

/// The data area of a byte channel ([`bytes()`](super::bytes()),
/// [`mpsc_bytes()`](super::mpsc_bytes())) built
/// without [`capacity`](super::Builder::capacity) or
/// [`max_message`](super::Builder::max_message): 64 KiB.
pub const DEFAULT_BYTES: u32 = 64 * 1024;

pub(crate) mod sealed {
    use super::*;

    /// What a builder needs of a channel kind.
    pub trait Kind {
        /// The core ring's layout (its capacity range, its length).
        type Layout: Layout;
        /// The kind's name, for errors and memfd names.
        const NAME: &'static str;
        /// The capacity without a `capacity` setting.
        const DEFAULT: u32;
        /// The message type id an endpoint states without a `type_id`
        /// setting ([`pod_type_id`] of the item for the item kinds, 0 for
        /// the byte kinds).
        fn default_type_id() -> u64;
    }

    /// How a builder makes an endpoint on memory.
    pub trait Endpoint: Sized {
        /// The endpoint set up on `mem` in `mode` (`capacity` for
        /// `Mode::Init`), stating the message type id `type_id` (0: none).
        fn set_up(mem: Memory, mode: Mode, capacity: u32, type_id: u64) -> Result<Self>;
    }
}

/// A channel kind: the type parameter of a [`Builder`](super::Builder), naming its two
/// ends. Sealed: [`Spsc`], [`Mpmc`], [`Bytes`], [`MpscBytes`].
///
/// ```
/// use ipckit::channel::{Kind, Spsc, spsc};
/// fn ends<K: Kind>() -> (&'static str, &'static str) {
///     (std::any::type_name::<K::Sender>(), std::any::type_name::<K::Receiver>())
/// }
/// assert!(ends::<Spsc<u8>>().1.ends_with("spsc::Receiver<u8>"));
/// ```
pub trait Kind: sealed::Kind + Sized {
    /// The sending end.
    type Sender: Endpoint<Kind = Self>;
    /// The receiving end.
    type Receiver: Endpoint<Kind = Self>;
}

/// A channel endpoint a [`Builder`](super::Builder) of its [`Kind`] makes: what the
/// terminal calls are generic over (sealed).
///
/// ```
/// use ipckit::channel::{Endpoint, Spsc, spsc};
/// fn kind_of<E: Endpoint<Kind = Spsc<u64>>>() {}
/// kind_of::<spsc::Sender<u64>>();
/// kind_of::<spsc::Receiver<u64>>();
/// ```
pub trait Endpoint: sealed::Endpoint {
    /// The channel kind it belongs to.
    type Kind: Kind;
}

/// An endpoint of a single-holder role, which [`Builder::take_over`](super::Builder::take_over) can
/// take from a dead process: both ends of [`spsc`](mod@crate::channel::spsc) and
/// [`bytes`](mod@crate::channel::bytes), the [`mpsc_bytes`](mod@crate::channel::mpsc_bytes)
/// receiver (sealed).
///
/// ```
/// fn takes_over<E: ipckit::channel::TakeOver>() {}
/// takes_over::<ipckit::channel::bytes::Sender>();
/// takes_over::<ipckit::channel::mpsc_bytes::Receiver>();
/// ```
pub trait TakeOver: Endpoint {}

/// A [`ByteKind`]'s builder has the message-sized settings (sealed).
///
/// ```
/// fn sized_by_message<K: ipckit::channel::ByteKind>() {}
/// sized_by_message::<ipckit::channel::Bytes>();
/// sized_by_message::<ipckit::channel::MpscBytes>();
/// ```
pub trait ByteKind: Kind {}

/// The [SPSC channel](mod@crate::channel::spsc) of `T`: [`spsc()`](super::spsc()).
///
/// ```
/// let b: ipckit::channel::Builder<ipckit::channel::Spsc<u32>> = ipckit::channel::spsc();
/// assert_eq!(b.effective_capacity()?, 1024);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct Spsc<T>(PhantomData<fn() -> T>);

/// The [MPMC channel](mod@crate::channel::mpmc) of `T`: [`mpmc()`](super::mpmc()).
///
/// ```
/// let b: ipckit::channel::Builder<ipckit::channel::Mpmc<u32>> = ipckit::channel::mpmc();
/// assert_eq!(b.capacity(1).effective_capacity()?, 2);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct Mpmc<T>(PhantomData<fn() -> T>);

/// The [byte-message SPSC channel](mod@crate::channel::bytes): [`bytes()`](super::bytes()).
///
/// ```
/// let b: ipckit::channel::Builder<ipckit::channel::Bytes> = ipckit::channel::bytes();
/// assert_eq!(b.effective_capacity()?, 65536);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct Bytes(());

/// The [byte-message MPSC channel](mod@crate::channel::mpsc_bytes): [`mpsc_bytes()`](super::mpsc_bytes()).
///
/// ```
/// let b: ipckit::channel::Builder<ipckit::channel::MpscBytes> = ipckit::channel::mpsc_bytes();
/// assert_eq!(b.max_message(100).effective_capacity()?, 256);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct MpscBytes(());

macro_rules! kind {
    ([$($gen:tt)*] $kind:ty, $layout:ty, $name:literal, $default:expr, $id:expr, $tx:ty, $rx:ty) => {
        impl<$($gen)*> sealed::Kind for $kind {
            type Layout = $layout;
            const NAME: &'static str = $name;
            const DEFAULT: u32 = $default;
            fn default_type_id() -> u64 {
                $id
            }
        }
        impl<$($gen)*> Kind for $kind {
            type Sender = $tx;
            type Receiver = $rx;
        }
        impl<$($gen)*> sealed::Endpoint for $tx {
            fn set_up(mem: Memory, mode: Mode, capacity: u32, type_id: u64) -> Result<Self> {
                <$tx>::set_up_on(mem, mode, capacity, type_id)
            }
        }
        impl<$($gen)*> Endpoint for $tx {
            type Kind = $kind;
        }
        impl<$($gen)*> sealed::Endpoint for $rx {
            fn set_up(mem: Memory, mode: Mode, capacity: u32, type_id: u64) -> Result<Self> {
                <$rx>::set_up_on(mem, mode, capacity, type_id)
            }
        }
        impl<$($gen)*> Endpoint for $rx {
            type Kind = $kind;
        }
    };
}

kind!([T: Pod] Spsc<T>, ipckit_core::spsc::Slots<T>, "spsc", DEFAULT_ITEMS, pod_type_id::<T>(),
    spsc_ch::Sender<T>, spsc_ch::Receiver<T>);
kind!([T: Pod] Mpmc<T>, ipckit_core::mpmc::Stamps<T>, "mpmc", DEFAULT_ITEMS, pod_type_id::<T>(),
    mpmc_ch::Sender<T>, mpmc_ch::Receiver<T>);
kind!([] Bytes, ipckit_core::frame::spsc::Frames, "bytes", DEFAULT_BYTES, 0,
    bytes_ch::Sender, bytes_ch::Receiver);
kind!([] MpscBytes, ipckit_core::frame::mpsc::Frames, "mpsc_bytes", DEFAULT_BYTES, 0,
    mpsc_bytes_ch::Sender, mpsc_bytes_ch::Receiver);
impl ByteKind for Bytes {}
impl ByteKind for MpscBytes {}
impl<T: Pod> TakeOver for spsc_ch::Sender<T> {}
impl<T: Pod> TakeOver for spsc_ch::Receiver<T> {}
impl TakeOver for bytes_ch::Sender {}
impl TakeOver for bytes_ch::Receiver {}
impl TakeOver for mpsc_bytes_ch::Receiver {}
