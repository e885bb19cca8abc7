//! Removing a channel's name once its endpoints have met, so that the
//! kernel frees the object when the last endpoint leaves.
//!
//! A name in `/dev/shm` outlives every process unless someone removes it;
//! a creator that removes it when *it* is done ([`RemoveOnDrop`]) cuts off
//! peers that have not opened it yet, and a creator that is killed leaves
//! it behind. Once every endpoint that will come has mapped the object, the
//! name has done its job: removing it then leaves the object to the
//! kernel, which frees it when the last mapping goes, however its holders
//! end (dropped, exited or killed). The cost is that nobody can open the
//! channel by name afterwards (no late joiner, no `take_over` of a dead
//! endpoint by name).
//!
//! [`RemoveOnDrop`]: crate::object::RemoveOnDrop

use std::time::{Duration, Instant};

use super::Memory;
use super::liveness::Membership;
use crate::error::{Error, Result};
use crate::shm::{MappedFile, ShmObject};

/// The longest pause between two looks at the peers' slots while waiting
/// (set-up time only: the wait ends when enough peers joined).
const MAX_PAUSE: Duration = Duration::from_millis(5);

/// Waits (at most `timeout`) until `peers` endpoints of the other side of
/// `member`'s channel have joined, then removes the name of `mem`: the
/// object of a named channel, the file of a file-backed one (a memfd has
/// no name: nothing to do). [`Error::TimedOut`] leaves the name in place.
pub(crate) fn remove_name_after(
    mem: &Memory,
    member: &Membership,
    peers: u32,
    timeout: Duration,
) -> Result<()> {
    let until = Instant::now().checked_add(timeout);
    let mut pause = Duration::from_micros(50);
    while member.peers_joined() < peers {
        let now = Instant::now();
        if until.is_some_and(|until| now >= until) {
            return Err(Error::TimedOut);
        }
        let left = until.map_or(pause, |until| until - now);
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(MAX_PAUSE);
    }
    match mem {
        Memory::Shm(object) => ShmObject::remove(object.name().as_str()),
        Memory::File(file) => MappedFile::remove(file.path()),
        Memory::Memfd(_) => Ok(()),
    }
}
