//! Whom an `open` by name trusts: the owner and mode of the object it
//! opened.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::error::{Error, Result};

/// Which objects an `open` by name accepts, judged by the owner and mode of
/// the object it actually opened.
///
/// Whoever may write a plain shared-memory object or file can also
/// `ftruncate` it, and our next access past its new end kills this process
/// with `SIGBUS` (see the [module docs](super)); they can also write any
/// bytes into it. A name in `/dev/shm` or `/tmp` can be taken by any user
/// before we create it, so an object found there may be a squatter's. The
/// `open` functions therefore `fstat` the descriptor they opened (the very
/// object that gets mapped: nothing can be swapped in between) and refuse
/// with [`Error::Untrusted`] an object that the chosen level does not
/// accept. The kernel's own permission check comes first and still
/// applies: a level can refuse what the mode allows, never allow what it
/// refuses.
///
/// | level | accepts | who else can shrink it under us |
/// |---|---|---|
/// | [`Owner`](Trust::Owner) (default) | owned by our effective uid, not writable by group or others (`mode & 0o022 == 0`) | our own user and root |
/// | [`Group`](Trust::Group) | not writable by others (`mode & 0o002 == 0`), and owned by us with no group write, or of a group we are in | also the members of that group |
/// | [`Anyone`](Trust::Anyone) | whatever the kernel lets us open | anyone with write access, possibly every user |
///
/// `Group` accepts another user's object when its group is one of ours:
/// an owner who is not root can only give an object a group they belong
/// to. (A file created in a directory with the set-group-ID bit takes the
/// directory's group whoever creates it: there `Group` also trusts whoever
/// may create files in that directory.)
///
/// Processes that share an object across users create it with a mode that
/// says so ([`ShmObject::create_with_mode`](super::ShmObject::create_with_mode),
/// say `0o660`) and open it with [`Trust::Group`]. Where the peers cannot
/// be trusted not to shrink the memory, share a sealed
/// [`Memfd`](super::Memfd) instead: no level of trust is needed for it.
///
/// ```
/// use std::os::fd::{AsFd, AsRawFd};
/// use ipckit::Error;
/// use ipckit::shm::{ShmObject, Trust};
///
/// let name = format!("ipckit-doc-trust-{}", std::process::id());
/// let obj = ShmObject::create_with_mode(&name, 4096, 0o666)?;
/// // Writable by every user: refused unless the caller opts in.
/// assert!(matches!(ShmObject::open(&name), Err(Error::Untrusted { mode: 0o666, .. })));
/// assert!(matches!(
///     ShmObject::open_with(&name, Trust::Group),
///     Err(Error::Untrusted { .. })
/// ));
/// let opened = ShmObject::open_with(&name, Trust::Anyone)?;
/// assert_eq!(opened.len(), 4096);
/// ShmObject::remove(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trust {
    /// Only objects of our effective uid that no group or other user may
    /// write: the default of every `open`.
    #[default]
    Owner,
    /// Also objects that the members of one of our groups may write (or
    /// that another user owns under one of our groups); never objects that
    /// every user may write.
    Group,
    /// Every object the kernel lets us open, including one every user may
    /// write or truncate. Only for memory whose loss (a `SIGBUS` that ends
    /// this process) and contents are acceptable from anyone.
    Anyone,
}

impl Trust {
    /// `fstat`s `fd` (the object `target` just opened) and refuses it with
    /// [`Error::Untrusted`] if this level does not accept its owner and
    /// mode.
    pub(crate) fn check(self, fd: BorrowedFd<'_>, target: &str) -> Result<()> {
        if self == Trust::Anyone {
            return Ok(());
        }
        // SAFETY: `libc::stat` is plain data; all-zero is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open for the call (borrowed); `st` is a valid
        // out-pointer.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(Error::last_os("fstat", target));
        }
        self.check_owner(st.st_uid, st.st_gid, st.st_mode, target)
    }

    /// The judgement of [`check`](Self::check) on an owner, group and mode
    /// read another way (a System V object's `ipc_perm`).
    pub(crate) fn check_owner(
        self,
        uid: libc::uid_t,
        gid: libc::gid_t,
        mode: u32,
        target: &str,
    ) -> Result<()> {
        if self == Trust::Anyone {
            return Ok(());
        }
        let mode = mode & 0o7777;
        // SAFETY: plain query.
        let ours = uid == unsafe { libc::geteuid() };
        let reason = match self {
            Trust::Owner if !ours => Some("another user owns it"),
            Trust::Owner if mode & 0o022 != 0 => Some("its group or other users may write it"),
            Trust::Group if mode & 0o002 != 0 => Some("every user may write it"),
            Trust::Group if (!ours || mode & 0o020 != 0) && !in_our_groups(gid) => Some(if ours {
                "its group may write it, and it is not a group of ours"
            } else {
                "another user owns it, under a group that is not ours"
            }),
            _ => None,
        };
        match reason {
            None => Ok(()),
            Some(reason) => Err(Error::Untrusted {
                target: target.into(),
                uid,
                gid,
                mode,
                reason,
                trust: self,
            }),
        }
    }
}

/// `true` if `gid` is our effective gid or one of our supplementary groups.
fn in_our_groups(gid: libc::gid_t) -> bool {
    // SAFETY: plain query.
    if gid == unsafe { libc::getegid() } {
        return true;
    }
    // SAFETY: a count of 0 asks for the number of groups only.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    let Ok(len) = usize::try_from(n) else {
        return false;
    };
    let mut groups: Vec<libc::gid_t> = vec![0; len];
    // SAFETY: `groups` has room for `n` entries. The list cannot grow in
    // between (only this process changes its groups, and it does not here);
    // if it did, the call fails with EINVAL and we trust no group.
    let got = unsafe { libc::getgroups(n, groups.as_mut_ptr()) };
    usize::try_from(got).is_ok_and(|got| groups[..got.min(len)].contains(&gid))
}
