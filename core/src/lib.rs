//! `ipckit-core`: inter-process communication primitives on raw shared memory.
//!
//! `#![no_std]`, no allocation, no operating system. Everything here is laid
//! out on a caller-provided byte [`Region`]: a `MAP_SHARED` mapping between two
//! Linux processes, a RAM section between two cores of a microcontroller, an
//! interrupt handler and `main`, or a plain buffer between two threads. The
//! same bytes mean the same thing on every one of them: fixed-width
//! `#[repr(C)]` fields, offsets instead of pointers, a versioned [`Header`].
//!
//! # Quick start
//! ```
//! use ipckit_core::{spsc, AlignedBytes, Region};
//!
//! let mut bytes = AlignedBytes::<1024>::new();
//! let ring = spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 16)?;
//! let (mut tx, mut rx) = ring.split()?;
//! tx.try_push(42)?;
//! assert_eq!(rx.try_pop()?, 42);
//! # Ok::<(), ipckit_core::Error>(())
//! ```
//!
//! # The peer is untrusted
//! Another process or core can write any bytes into a shared region at any
//! time. This crate never reads or writes outside the region, never panics
//! and never hits undefined behaviour because of what it reads there: every
//! index or length that the other side writes is loaded once, validated, and
//! only the local copy is used; item bytes are copied out before the caller
//! sees them. A violation is [`Error::Corrupted`], and the endpoint stays safe
//! to drop.
//!
//! # Modules
//! - [`region`]: the header every region starts with, and the init/attach
//!   protocol.
//! - [`place`]: where a ring lives and how it is opened, once for every
//!   ring: region length, `init` / `attach`, options, role claims, rings
//!   that own their memory.
//! - [`spsc`]: the single-producer single-consumer ring (atomic loads and
//!   stores only, so it runs between two cores of a `thumbv6m` part).
//! - [`mpmc`]: the bounded multi-producer multi-consumer ring (Vyukov's
//!   per-slot stamps).
//! - [`semaphore`]: a counting semaphore (a cross-process mutex at maximum 1).
//! - [`frame`]: variable-length byte frames: an SPSC frame ring (loads and
//!   stores only), an MPSC frame ring (out-of-order commit), and a
//!   length-prefixed stream codec.
//! - [`wait`]: futex-shaped blocking ([`wait::Notify`]) and the event count
//!   that keeps wake-ups off the fast path.
//! - [`error`]: the one [`Error`] type.
//!
//! # Targets without compare-and-swap
//! The SPSC ring and the SPSC frame ring use only atomic loads and stores:
//! they work on `thumbv6m` between two cores. The MPMC ring, the semaphore
//! and the MPSC frame ring need compare-and-swap; on `thumbv6m` they exist
//! only with the `critical-section` feature, whose compare-and-swap masks
//! interrupts, and then only between an interrupt handler and `main` of
//! one core (never two cores or processes).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(any(test, ipckit_loom))]
extern crate std;

pub mod error;
pub mod frame;
pub mod intent;
pub mod mpmc;
pub mod place;
pub mod region;
pub mod semaphore;
pub mod spsc;
mod sync;
#[cfg(all(test, not(ipckit_loom)))]
mod test_support;
pub mod wait;

pub use error::{Error, Result, Role};
pub use region::{AlignedBytes, Header, HeaderInfo, ObjectKind, Region};

/// Re-exported so that users name the same `Pod` bound as the rings.
pub use bytemuck::{Pod, Zeroable};
