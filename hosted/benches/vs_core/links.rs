//! Where the links live and how each side opens its end: channel objects
//! by name, core rings on an anonymous shared mapping the child inherits.

use std::sync::atomic::{AtomicU64, Ordering};

use ipckit::channel::{SPIN_BUDGET, bytes, spsc};
use ipckit::frame;
use ipckit::futex::Futex;
use ipckit::shm::{SharedMapping, ShmObject};

use crate::ends::{FRAME_BYTES, Res, SLOTS, e2s};

// Opening the two kinds of links.

pub(crate) fn notifier() -> Futex {
    Futex::adaptive(SPIN_BUDGET)
}

/// Where a link lives: a channel object's name, or a core ring's mapping.
pub(crate) enum Place {
    Named(String),
    Mapped(&'static SharedMapping),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Pod,
    Bytes,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Channel,
    Core,
}

pub(crate) fn unique(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("ipckit-bench-vscore-{}-{n}-{tag}", std::process::id())
}

/// A mapping for a core ring, left mapped for the rest of the run (a few
/// hundred KiB over a whole run: the endpoints borrow it for `'static`).
pub(crate) fn leaked_ring_mapping(kind: Kind) -> Res<&'static SharedMapping> {
    let len = match kind {
        Kind::Pod => ipckit::spsc::Ring::<u64>::region_len(SLOTS),
        Kind::Bytes => frame::spsc::Ring::region_len(FRAME_BYTES),
    }
    .map_err(e2s)?;
    let mapping = SharedMapping::anonymous(len).map_err(e2s)?;
    let mapping: &'static SharedMapping = Box::leak(Box::new(mapping));
    match kind {
        Kind::Pod => {
            let options = ipckit::spsc::Options::new(SLOTS).waking(true);
            ipckit::spsc::Ring::<u64>::init_with(mapping.region(), options).map_err(e2s)?;
        }
        Kind::Bytes => {
            let options = frame::spsc::Options::new(FRAME_BYTES).waking(true);
            frame::spsc::Ring::init_with(mapping.region(), options).map_err(e2s)?;
        }
    }
    Ok(mapping)
}

/// Makes one link (before the fork): a channel object, or a core ring.
pub(crate) fn make(kind: Kind, side: Side) -> Res<Place> {
    match side {
        Side::Channel => {
            let name = unique("link");
            // The channel object is created here and opened by both ends;
            // the creator's claim is given back at once.
            match kind {
                Kind::Pod => drop(spsc::Receiver::<u64>::create(&name, SLOTS).map_err(e2s)?),
                Kind::Bytes => drop(bytes::Receiver::create(&name, FRAME_BYTES).map_err(e2s)?),
            }
            Ok(Place::Named(name))
        }
        Side::Core => Ok(Place::Mapped(leaked_ring_mapping(kind)?)),
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Place::Named(name) = self {
            let _ = ShmObject::remove(name);
        }
    }
}

/// Evaluates `$body` with `$end` bound to the end that `$open` makes of
/// kind `$kind` at `$at` (`$open`: `sender` or `receiver`).
macro_rules! with_end {
    ($kind:expr, $at:expr, $open:ident, |$end:ident| $body:expr) => {{
        // A closure, so that `?` in the openers ends only this block.
        (|| match ($kind, $at) {
            ($crate::links::Kind::Pod, $crate::links::Place::Named(name)) => {
                let mut $end = opener!(Pod channel $open, name);
                $body
            }
            ($crate::links::Kind::Pod, $crate::links::Place::Mapped(m)) => {
                let ring = ipckit::spsc::Ring::<u64>::attach(m.region()).map_err($crate::ends::e2s)?;
                let mut $end = opener!(core $open, ring);
                $body
            }
            ($crate::links::Kind::Bytes, $crate::links::Place::Named(name)) => {
                let mut $end = opener!(Bytes channel $open, name);
                $body
            }
            ($crate::links::Kind::Bytes, $crate::links::Place::Mapped(m)) => {
                let ring = ipckit::frame::spsc::Ring::attach(m.region()).map_err($crate::ends::e2s)?;
                let mut $end = opener!(core $open, ring);
                $body
            }
        })()
    }};
}

/// Opens one end (`?` on failure).
macro_rules! opener {
    (Pod channel sender, $n:expr) => {
        ipckit::channel::spsc::Sender::<u64>::open($n).map_err($crate::ends::e2s)?
    };
    (Pod channel receiver, $n:expr) => {
        ipckit::channel::spsc::Receiver::<u64>::open($n).map_err($crate::ends::e2s)?
    };
    (Bytes channel sender, $n:expr) => {
        ipckit::channel::bytes::Sender::open($n).map_err($crate::ends::e2s)?
    };
    (Bytes channel receiver, $n:expr) => {
        ipckit::channel::bytes::Receiver::open($n).map_err($crate::ends::e2s)?
    };
    (core sender, $ring:expr) => {
        $ring
            .producer_with($crate::links::notifier())
            .map_err($crate::ends::e2s)?
    };
    (core receiver, $ring:expr) => {
        $ring
            .consumer_with($crate::links::notifier())
            .map_err($crate::ends::e2s)?
    };
}
