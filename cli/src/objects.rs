//! Reading ipckit objects without attaching to them: the raw header words,
//! whether the header validates, the ring positions, and what the library's
//! `channel::inspect` says about the endpoints.
//!
//! The bytes are read with `read(2)` into a private, aligned copy (no
//! mapping, no claim, nothing written), so a peer scribbling on the object
//! can at worst make the report wrong.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ipckit::channel::{self, ChannelInfo};
use ipckit::region::{self, HeaderInfo};
use ipckit::{AlignedBytes, ObjectKind, Region};

use crate::fail::{Fail, Result};

/// Bytes read from the start of an object: the header and every control
/// line (kind 5 ends its control lines at 512).
pub const PREFIX: usize = 512;

/// An object named on the command line.
#[derive(Debug, Clone)]
pub enum Target {
    /// A POSIX shared-memory object, by name (without the leading `/`).
    Shm(String),
    /// A mapped file, by path.
    File(PathBuf),
}

/// The channel name of the object `object` (what `channel::inspect`
/// takes): `object` itself unless it is a channel's escaped object name.
pub fn channel_of(object: &str) -> String {
    channel::channel_name(object).unwrap_or_else(|| object.to_owned())
}

/// The object of the channel `name` (`jobs` is `ipckit-jobs`), if it
/// exists.
fn channel_object(name: &str) -> Option<String> {
    let object = ipckit::channel::object_name(name).ok()?;
    let bare = &object.as_str()[1..];
    Path::new("/dev/shm")
        .join(bare)
        .exists()
        .then(|| bare.to_owned())
}

impl Target {
    /// `ipckit-x`, `/ipckit-x` and `/dev/shm/ipckit-x` are shm names; so is
    /// a channel name with a `/` in it (`robot/arm/state`, as `ipckit ls`
    /// shows it) whose object exists and no file of that path does; any
    /// other argument with a `/` in it (or an existing file) is a path.
    pub fn parse(arg: &str) -> Self {
        if let Some(rest) = arg.strip_prefix("/dev/shm/") {
            return Target::Shm(rest.to_owned());
        }
        let trimmed = arg.strip_prefix('/').unwrap_or(arg);
        if !trimmed.contains('/') && (arg.starts_with('/') || !Path::new(arg).exists()) {
            if !Path::new("/dev/shm").join(trimmed).exists() {
                if let Some(object) = channel_object(arg) {
                    return Target::Shm(object);
                }
            }
            return Target::Shm(trimmed.to_owned());
        }
        if !arg.contains('/') && Path::new("/dev/shm").join(arg).exists() {
            return Target::Shm(arg.to_owned());
        }
        // A channel named as a service ("robot/arm/state", as `ls` shows
        // it), when no such file exists and its object does.
        if !Path::new(arg).exists() {
            if let Some(object) = channel_object(arg) {
                return Target::Shm(object);
            }
        }
        Target::File(PathBuf::from(arg))
    }

    /// The file to read.
    pub fn path(&self) -> PathBuf {
        match self {
            Target::Shm(name) => Path::new("/dev/shm").join(name),
            Target::File(p) => p.clone(),
        }
    }

    /// The name to show.
    pub fn display(&self) -> String {
        match self {
            Target::Shm(name) => name.clone(),
            Target::File(p) => p.display().to_string(),
        }
    }
}

/// A snapshot of an object's first bytes.
pub struct Snapshot {
    bytes: AlignedBytes<PREFIX>,
    /// How many bytes were read (less than [`PREFIX`] for a short object).
    pub read: usize,
    /// The object's size.
    pub len: u64,
}

/// Turns an I/O error on `target` into a one-line message.
pub fn io_fail(target: &Target, e: &std::io::Error) -> Fail {
    let what = match target {
        Target::Shm(name) => format!("{name} (/dev/shm/{name})"),
        Target::File(p) => p.display().to_string(),
    };
    match e.kind() {
        std::io::ErrorKind::NotFound => Fail::new(format!("no such object: {what}")),
        std::io::ErrorKind::PermissionDenied => Fail::new(format!("{what}: permission denied")),
        _ => Fail::new(format!("{what}: {e}")),
    }
}

impl Snapshot {
    /// Reads the first [`PREFIX`] bytes of `target`.
    pub fn read(target: &Target) -> Result<Self> {
        let path = target.path();
        let mut file = File::open(&path).map_err(|e| io_fail(target, &e))?;
        let meta = file.metadata().map_err(|e| io_fail(target, &e))?;
        if meta.is_dir() {
            return Err(Fail::new(format!("{}: is a directory", target.display())));
        }
        let mut bytes = AlignedBytes::<PREFIX>::new();
        let mut read = 0;
        while read < PREFIX {
            match file.read(&mut bytes[read..]) {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_fail(target, &e)),
            }
        }
        Ok(Self {
            bytes,
            read,
            len: meta.len(),
        })
    }

    /// The `u32` at byte `offset` (native byte order), if it was read.
    pub fn word(&self, offset: usize) -> Option<u32> {
        let b = self.bytes.get(offset..offset + 4)?;
        (offset + 4 <= self.read).then(|| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The header, validated by the core (`region::inspect`).
    pub fn header(&self) -> std::result::Result<HeaderInfo, ipckit::CoreError> {
        let mut copy = self.bytes.clone();
        region::inspect(Region::from_slice(&mut copy[..self.read]))
    }
}

/// A short lower-case name of a kind.
pub fn kind_name(kind: Option<ObjectKind>) -> &'static str {
    match kind {
        Some(ObjectKind::Spsc) => "spsc",
        Some(ObjectKind::Mpmc) => "mpmc",
        Some(ObjectKind::Semaphore) => "semaphore",
        Some(ObjectKind::FrameSpsc) => "bytes",
        Some(ObjectKind::FrameMpsc) => "mpsc-bytes",
        Some(ObjectKind::Latest) => "latest",
        Some(ObjectKind::Broadcast) => "broadcast",
        Some(ObjectKind::BroadcastFrames) => "broadcast-bytes",
        _ => "?",
    }
}

/// The unit `capacity` counts in.
pub fn capacity_unit(kind: Option<ObjectKind>) -> &'static str {
    match kind {
        Some(ObjectKind::FrameSpsc | ObjectKind::FrameMpsc | ObjectKind::BroadcastFrames) => {
            "bytes"
        }
        Some(ObjectKind::Semaphore) => "units",
        Some(ObjectKind::Latest) => "values",
        _ => "items",
    }
}

/// Offsets of the positions every ring kind keeps: `tail` (next to write)
/// at 128 and `head` (next to read) at 256.
pub const TAIL: usize = 128;
/// See [`TAIL`].
pub const HEAD: usize = 256;

/// The fill level of a ring (items, or bytes for frame rings; the count of
/// a semaphore), if the positions read make sense.
pub fn fill(snap: &Snapshot, info: &HeaderInfo) -> Option<u64> {
    match info.kind? {
        ObjectKind::Spsc | ObjectKind::Mpmc | ObjectKind::FrameSpsc | ObjectKind::FrameMpsc => {
            let used = snap.word(TAIL)?.wrapping_sub(snap.word(HEAD)?);
            (used <= info.capacity).then_some(u64::from(used))
        }
        ObjectKind::Semaphore => snap.word(TAIL).map(u64::from),
        _ => None,
    }
}

/// `channel::inspect` for a shm object whose name has the channel prefix.
pub fn channel_info(target: &Target) -> Option<std::result::Result<ChannelInfo, String>> {
    match target {
        Target::Shm(name) if name.starts_with(channel::NAME_PREFIX) => {
            Some(channel::inspect(&channel_of(name)).map_err(|e| e.to_string()))
        }
        _ => None,
    }
}

/// `sender`/`receiver` for a role.
pub fn role_name(role: ipckit::error::Role) -> &'static str {
    match role {
        ipckit::error::Role::Producer => "sender",
        ipckit::error::Role::Consumer => "receiver",
    }
}
