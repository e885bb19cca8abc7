//! The end of a new channel that a child process claims: made by
//! [`Builder::pair_for_child`](super::Builder::pair_for_child) and
//! [`Builder::pair_from_child`](super::Builder::pair_from_child).
//!
//! An endpoint records the process that claims it (its pid and start time
//! in the liveness block): that is how the other side tells a peer that
//! died from one that lives. An endpoint claimed in the parent and used in
//! a forked child would name the parent. So the child's end stays
//! unclaimed, a [`ChildEnd`] holding only the memfd, until the child
//! claims it: after `fork` with [`ChildEnd::claim`], or, spawned, with the
//! endpoint's `from_inherited` once [`ChildEnd::pass_to`] put the
//! descriptor in its environment. The memfd is sealed against shrinking
//! and growing (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`), so neither
//! side can make the other's mapping raise `SIGBUS`; the child checks the
//! seals and validates the channel as any attach does (the parent is a
//! peer like any other).

use std::marker::PhantomData;
use std::process::Command;

use super::builder::sealed::Kind;
use super::{Endpoint, Mode};
use crate::error::Result;
use crate::shm::Memfd;

/// One end of a channel made for a child process, not claimed yet: the
/// memfd the channel lives in, typed by the end (`E`) the child will make
/// of it.
///
/// - **Forked child**: the child calls [`claim`](Self::claim) (the memfd's
///   mapping is inherited). The parent drops its copy. The child must
///   neither use nor drop the parent's end it inherited: leave it to
///   `_exit`, or [`std::mem::forget`] it, since dropping it would close
///   the parent's slot.
/// - **Spawned child**: [`pass_to`](Self::pass_to) the `Command` before
///   spawning (the descriptor is inherited by that child only, its number
///   in an environment variable you name), then drop the `ChildEnd`; the
///   child calls `from_inherited` on the end's type with the same name.
///
/// The child's end states the builder's message type id when claimed;
/// `from_inherited` states the kind's default (for a channel built with
/// another [`type_id`](super::Builder::type_id), the child attaches with
/// the builder: `.type_id(id).attach(memfd)`).
///
/// The other side waits for the child like for any peer that has not come
/// yet: a child that dies before it claims its end is not noticed (use a
/// timeout, or watch the child).
///
/// ```
/// use std::process::Command;
/// use ipckit::channel::{self, spsc};
///
/// let (mut tx, rx_end) = channel::spsc::<u64>().capacity(64).pair_for_child()?;
/// let mut cmd = Command::new("true"); // your worker program
/// rx_end.pass_to(&mut cmd, "JOBS_FD")?;
/// let mut child = cmd.spawn()?;
/// drop(rx_end);
/// tx.send(7)?; // queued for the child
/// child.wait()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// and in the worker:
///
/// ```no_run
/// use ipckit::channel::spsc;
///
/// // SAFETY: the parent passed this descriptor for us alone.
/// let mut rx = unsafe { spsc::Receiver::<u64>::from_inherited("JOBS_FD") }?;
/// assert_eq!(rx.recv()?, 7);
/// # Ok::<(), ipckit::Error>(())
/// ```
#[must_use = "the child's end: claim it in the child, or pass it to a Command"]
pub struct ChildEnd<E> {
    memfd: Memfd,
    type_id: u64,
    end: PhantomData<fn() -> E>,
}

impl<E> std::fmt::Debug for ChildEnd<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildEnd")
            .field("end", &std::any::type_name::<E>())
            .field("memfd", &self.memfd)
            .finish()
    }
}

impl<E: Endpoint> ChildEnd<E> {
    /// The end of `memfd`, to state `type_id` (the builder's) when claimed.
    pub(super) fn new(memfd: Memfd, type_id: u64) -> Self {
        Self {
            memfd,
            type_id,
            end: PhantomData,
        }
    }

    /// Claims the end for the calling process: in a child forked after
    /// the pair was made. Attaches as any endpoint does (validating the
    /// header and liveness block). Example:
    /// [`Builder::pair_from_child`](super::Builder::pair_from_child).
    pub fn claim(self) -> Result<E> {
        E::set_up(self.memfd.into(), Mode::Attach, 0, self.type_id)
    }

    /// Lets the child that `cmd` spawns inherit the memfd, its descriptor
    /// number in the environment variable `var`, for the child's
    /// `from_inherited(var)` (as
    /// [`Memfd::pass_to_child`](crate::shm::Memfd::pass_to_child): a
    /// duplicate, close-on-exec in this process, inheritable in that child
    /// only). Several ends go to one child under different names.
    pub fn pass_to(&self, cmd: &mut Command, var: &str) -> Result<()> {
        self.memfd.pass_to_child(cmd, var)
    }

    /// The memfd, to hand on otherwise (say over a Unix socket with
    /// [`send_fd`](crate::shm::send_fd); the receiver maps it with
    /// [`Memfd::from_fd`] and attaches the end with the builder's
    /// [`attach`](super::Builder::attach)).
    pub fn memfd(&self) -> &Memfd {
        &self.memfd
    }
}

/// The end `E` on the memfd a parent passed in `var`
/// ([`ChildEnd::pass_to`]): the endpoints' `from_inherited`, stating the
/// kind's default message type id (a channel made with another
/// `type_id`: attach with the builder, `.type_id(id).attach(memfd)`).
///
/// # Safety
/// The descriptor named by `var` must be owned by nothing else in this
/// process ([`Memfd::from_env`]).
pub(crate) unsafe fn inherited<E: Endpoint>(var: &str) -> Result<E> {
    // SAFETY: the caller's contract, forwarded.
    let memfd = unsafe { Memfd::from_env(var) }?;
    let id = <E::Kind as Kind>::default_type_id();
    E::set_up(memfd.into(), Mode::Attach, 0, id)
}
