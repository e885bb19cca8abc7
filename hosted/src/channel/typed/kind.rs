//! The typed channels as channel kinds: [`spsc`] and [`mpsc`] start a
//! channel [`Builder`] whose terminal calls make typed ends, with every
//! setting and terminal call of the byte kind underneath and the type id
//! of `T` ([`MessageType`]) stated by default.

use std::marker::PhantomData;

use super::{MessageType, Receiver, Sender};
use crate::channel::builder::sealed;
use crate::channel::{
    Builder, ByteKind, Bytes, Endpoint, Kind, Memory, Mode, MpscBytes, TakeOver, bytes, mpsc_bytes,
};
use crate::error::Result;

/// A builder of typed SPSC channels of `T` (over a [byte
/// channel](mod@crate::channel::bytes)): the byte builder's settings
/// (`capacity`, `max_message` and `messages` in encoded bytes, `mode`,
/// `trust`, `type_id`, default `T::message_type_id()`) and terminal calls
/// (`create`, `open`, `open_or_create`, `take_over`, `init_on`, `attach`,
/// `on_file`, `pair`, `pair_for_child`, ...), generic over the end:
/// [`Sender<T>`] or [`Receiver<T>`]. See the
/// [builder docs](crate::channel::builder).
///
/// ```
/// use ipckit::channel::typed::{self, Receiver, Sender};
///
/// let name = format!("ipckit-doc-typed-builder-{}", std::process::id());
/// let b = typed::spsc::<Vec<String>>().max_message(200).messages(4);
/// let mut tx: Sender<Vec<String>> = b.create(&name)?;
/// // Another type is refused at open.
/// let wrong = typed::spsc::<String>().open::<Receiver<String>>(&name);
/// assert!(matches!(wrong, Err(ipckit::Error::TypeMismatch { .. })));
/// let mut rx: Receiver<Vec<String>> = b.open(&name)?;
/// ipckit::shm::ShmObject::remove(&name)?;
/// tx.send(&vec!["a".into(), "b".into()])?;
/// assert_eq!(rx.recv()?, ["a", "b"]);
/// let (mut tx, mut rx) = typed::spsc::<u32>().pair()?;
/// tx.send(&7)?;
/// assert_eq!(rx.recv()?, 7);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn spsc<T: MessageType>() -> Builder<Typed<T, Bytes>> {
    Builder::new()
}

/// A builder of typed MPSC channels of `T` (over an [MPSC byte
/// channel](mod@crate::channel::mpsc_bytes)), as [`spsc()`]: the ends are
/// [`MpscSender<T>`](super::MpscSender) (up to 64) and
/// [`MpscReceiver<T>`](super::MpscReceiver).
///
/// ```
/// use ipckit::channel::typed::{self, MpscReceiver, MpscSender};
///
/// let name = format!("ipckit-doc-typed-mpsc-builder-{}", std::process::id());
/// let mut rx: MpscReceiver<(u8, String)> = typed::mpsc().capacity(4096).create(&name)?;
/// let mut tx: MpscSender<(u8, String)> = typed::mpsc().open(&name)?;
/// ipckit::shm::ShmObject::remove(&name)?;
/// tx.send(&(1, "one".into()))?;
/// assert_eq!(rx.recv()?, (1, "one".to_owned()));
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn mpsc<T: MessageType>() -> Builder<Typed<T, MpscBytes>> {
    Builder::new()
}

/// The typed channel of `T` over the byte kind `K` ([`Bytes`] or
/// [`MpscBytes`]) as a channel kind: what a channel [`Builder`] of typed
/// ends is generic over ([`spsc()`], [`mpsc()`]).
///
/// ```
/// use ipckit::channel::{Builder, Bytes, typed::Typed};
/// let b: Builder<Typed<u64, Bytes>> = ipckit::channel::typed::spsc();
/// assert_eq!(b.stated_type_id(), <u64 as ipckit::channel::typed::MessageType>::message_type_id());
/// ```
pub struct Typed<T, K>(PhantomData<fn() -> (T, K)>);

macro_rules! typed_kind {
    ($kind:ty, $tx:ty, $rx:ty) => {
        impl<T: MessageType> sealed::Kind for Typed<T, $kind> {
            type Layout = <$kind as sealed::Kind>::Layout;
            const NAME: &'static str = <$kind as sealed::Kind>::NAME;
            const DEFAULT: u32 = <$kind as sealed::Kind>::DEFAULT;
            fn default_type_id() -> u64 {
                T::message_type_id()
            }
        }
        impl<T: MessageType> Kind for Typed<T, $kind> {
            type Sender = Sender<T, $tx>;
            type Receiver = Receiver<T, $rx>;
        }
        impl<T: MessageType> ByteKind for Typed<T, $kind> {}
        impl<T: MessageType> sealed::Endpoint for Sender<T, $tx> {
            fn set_up(mem: Memory, mode: Mode, capacity: u32, type_id: u64) -> Result<Self> {
                <$tx as sealed::Endpoint>::set_up(mem, mode, capacity, type_id).map(Self::new)
            }
        }
        impl<T: MessageType> Endpoint for Sender<T, $tx> {
            type Kind = Typed<T, $kind>;
        }
        impl<T: MessageType> sealed::Endpoint for Receiver<T, $rx> {
            fn set_up(mem: Memory, mode: Mode, capacity: u32, type_id: u64) -> Result<Self> {
                <$rx as sealed::Endpoint>::set_up(mem, mode, capacity, type_id).map(Self::new)
            }
        }
        impl<T: MessageType> Endpoint for Receiver<T, $rx> {
            type Kind = Typed<T, $kind>;
        }
    };
}

typed_kind!(Bytes, bytes::Sender, bytes::Receiver);
typed_kind!(MpscBytes, mpsc_bytes::Sender, mpsc_bytes::Receiver);
impl<T: MessageType> TakeOver for Sender<T, bytes::Sender> {}
impl<T: MessageType> TakeOver for Receiver<T, bytes::Receiver> {}
impl<T: MessageType> TakeOver for Receiver<T, mpsc_bytes::Receiver> {}
