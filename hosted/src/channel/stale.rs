//! Finding channels in `/dev/shm` and removing those left by dead
//! processes.

use std::ptr::NonNull;

use ipckit_core::{ObjectKind, Role};

use super::liveness::{Block, SlotState};
use super::{
    LIVENESS_LEN, NAME_PREFIX, ProcessId, channel_name, core_region_len, liveness_offset,
    object_name,
};
use crate::error::{Error, Result};
use crate::shm::{SharedMemory, ShmObject};

/// One endpoint slot of a channel, as [`list`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointInfo {
    /// Sender ([`Role::Producer`]) or receiver ([`Role::Consumer`]).
    pub role: Role,
    /// The slot's index in its side's table.
    pub slot: u32,
    /// What the slot holds (`None`: a state this build does not know,
    /// counted alive; liveness version 2 has none).
    pub state: Option<SlotState>,
    /// The recorded process (the last holder, for a closed slot). For a
    /// claiming slot the start time may not be written yet.
    pub process: ProcessId,
    /// Counted alive: active with a live process (pid and start time), or
    /// claiming with a running pid.
    pub alive: bool,
}

/// What [`list`] concludes about a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelStatus {
    /// At least one endpoint is alive.
    Live,
    /// No endpoint alive, and every recorded one closed cleanly (or none
    /// ever came): it may hold messages for a later reader; kept by
    /// [`remove_stale`].
    Idle,
    /// No endpoint alive, and at least one died holding its slot (active,
    /// or killed while claiming it): what [`remove_stale`] removes.
    Stale,
    /// Not readable as a channel (why): someone else's object, a creator
    /// still initialising it, a foreign layout. Never removed.
    Unknown(String),
}

/// A channel object in `/dev/shm`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelInfo {
    /// The object's name (without the leading `/`).
    pub name: String,
    /// The channel's name as its users gave it ([`channel_name`] of
    /// `name`; `name` itself for an object no channel name maps to).
    pub channel: String,
    /// The object's size in bytes.
    pub len: u64,
    /// The kind in its header, if readable.
    pub kind: Option<ObjectKind>,
    /// Capacity (items, or data bytes for frame rings), 0 if unreadable.
    pub capacity: u32,
    /// Element size in bytes (1 for frame rings), 0 if unreadable.
    pub elem_size: u32,
    /// The message type id a typed endpoint stated (0: none stated; see
    /// [`TYPE_ID_AT`](super::TYPE_ID_AT)).
    pub message_type_id: u64,
    /// Every slot that was ever used.
    pub endpoints: Vec<EndpointInfo>,
    /// Live, idle, stale or unknown.
    pub status: ChannelStatus,
}

/// Reads the channel `name` (opening it read-write, as every channel
/// object is created with mode 0600 for its user).
///
/// ```
/// use ipckit::channel::{inspect, object_name, spsc::Sender, ChannelStatus};
/// let name = format!("doc/inspect/{}", std::process::id());
/// let tx = Sender::<u32>::create(&name, 8)?;
/// let info = inspect(&name)?;
/// assert_eq!((info.capacity, info.status), (8, ChannelStatus::Live));
/// assert_eq!(info.endpoints[0].process.pid, std::process::id());
/// assert_eq!(info.channel, name); // the object is "ipckit-doc%2Finspect%2F<pid>"
/// drop(tx);
/// assert_eq!(inspect(&name)?.status, ChannelStatus::Idle);
/// ipckit::shm::ShmObject::remove(object_name(&name)?.as_str())?;
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn inspect(name: &str) -> Result<ChannelInfo> {
    inspect_object(object_name(name)?.as_str())
}

/// [`inspect`] of the object `object` (not a channel name: no mapping).
fn inspect_object(object: &str) -> Result<ChannelInfo> {
    let obj = ShmObject::open(object)?;
    let name = obj.name().as_str()[1..].to_owned();
    let mut info = ChannelInfo {
        channel: channel_name(&name).unwrap_or_else(|| name.clone()),
        name,
        len: obj.len() as u64,
        kind: None,
        capacity: 0,
        elem_size: 0,
        message_type_id: 0,
        endpoints: Vec::new(),
        status: ChannelStatus::Unknown(String::new()),
    };
    let header = match obj.inspect() {
        Ok(h) => h,
        Err(e) => {
            info.status = ChannelStatus::Unknown(e.to_string());
            return Ok(info);
        }
    };
    info.kind = header.kind;
    info.capacity = header.capacity;
    info.elem_size = header.elem_size;
    let Some(core_len) = core_region_len(&header).and_then(|len| with_table(&obj, &header, len))
    else {
        info.status = ChannelStatus::Unknown("not a channel kind".into());
        return Ok(info);
    };
    // One read of the header (above); checked arithmetic bounded by the
    // mapping, whatever its fields say.
    let Some(at) = liveness_offset(core_len).filter(|at| {
        at.checked_add(LIVENESS_LEN)
            .is_some_and(|end| end <= obj.len())
    }) else {
        info.status = ChannelStatus::Unknown("no liveness block".into());
        return Ok(info);
    };
    // SAFETY: `at + LIVENESS_LEN <= len` (checked), page-aligned; the block
    // and everything read from it are used only while `obj` is mapped.
    let probe = unsafe { Block::new(NonNull::new_unchecked(obj.as_ptr().add(at)), 1) };
    let Some(slots) = probe.recorded_slots() else {
        info.status = ChannelStatus::Unknown("bad liveness block".into());
        return Ok(info);
    };
    // SAFETY: as above.
    let block = unsafe { Block::new(NonNull::new_unchecked(obj.as_ptr().add(at)), slots) };
    info.message_type_id = block.type_id();
    let me = std::process::id();
    for role in [Role::Producer, Role::Consumer] {
        for slot in 0..slots {
            let s = block.snapshot(role, slot);
            if s.state == Some(SlotState::Free) {
                continue;
            }
            info.endpoints.push(EndpointInfo {
                role,
                slot,
                state: s.state,
                process: s.holder,
                alive: s.alive(me),
            });
        }
    }
    info.status = if info.endpoints.iter().any(|e| e.alive) {
        ChannelStatus::Live
    } else if info
        .endpoints
        .iter()
        .any(|e| matches!(e.state, Some(SlotState::Active) | Some(SlotState::Claiming)))
    {
        ChannelStatus::Stale
    } else {
        ChannelStatus::Idle
    };
    Ok(info)
}

/// Every object in `/dev/shm` whose name starts with [`NAME_PREFIX`], read
/// with [`inspect`]. Objects that vanish while listed are skipped; objects
/// that cannot be opened are listed as [`ChannelStatus::Unknown`].
pub fn list() -> Result<Vec<ChannelInfo>> {
    let entries = std::fs::read_dir("/dev/shm").map_err(|e| Error::os("opendir", "/dev/shm", e))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(NAME_PREFIX) {
            continue;
        }
        match inspect_object(&name) {
            Ok(info) => found.push(info),
            Err(Error::NotFound(_)) => {}
            Err(e) => found.push(ChannelInfo {
                len: entry.metadata().map(|m| m.len()).unwrap_or(0),
                channel: channel_name(&name).unwrap_or_else(|| name.clone()),
                name,
                kind: None,
                capacity: 0,
                elem_size: 0,
                message_type_id: 0,
                endpoints: Vec::new(),
                status: ChannelStatus::Unknown(e.to_string()),
            }),
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Removes every [`ChannelStatus::Stale`] channel: no endpoint alive and at
/// least one that died holding its slot. Returns the removed names.
///
/// Never removes a channel with a live endpoint (or one being claimed by a
/// running process), an
/// idle one (every endpoint closed cleanly: it may hold messages), or one
/// it cannot read. Each candidate is read again right before `shm_unlink`.
///
/// The race that remains: a process that opens the name *between* that
/// last check and the unlink keeps working on an object nobody else can
/// find any more (its peers, opening the name later, create a new one).
/// The window is one system call wide; closing it fully needs a lock
/// every opener takes, which a future layout version may add.
pub fn remove_stale() -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for info in list()? {
        if info.status != ChannelStatus::Stale {
            continue;
        }
        // Re-check right before removing: someone may have taken over.
        match inspect_object(&info.name) {
            Ok(again) if again.status == ChannelStatus::Stale => {}
            _ => continue,
        }
        match ShmObject::remove(&info.name) {
            Ok(()) => removed.push(info.name),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// The offset of a broadcast ring's `table_len` control word, of either
/// kind (`docs/LAYOUT.md` sections 17 and 17.2).
const BROADCAST_TABLE_LEN_AT: usize = 144;

/// `core_len` (the slots' end) plus a broadcast ring's subscriber table
/// (`docs/LAYOUT.md` sections 17.1 and 18: the liveness block follows the
/// table), read once from the mapping; `None` for a table no ring has.
fn with_table(obj: &ShmObject, header: &ipckit_core::HeaderInfo, core_len: usize) -> Option<usize> {
    use ipckit_core::ObjectKind::{Broadcast, BroadcastFrames};
    if !matches!(header.kind, Some(Broadcast | BroadcastFrames)) {
        return Some(core_len);
    }
    if obj.len() < BROADCAST_TABLE_LEN_AT + 4 {
        return None;
    }
    // SAFETY: the word lies inside the mapping (checked above) at a
    // 4-aligned offset of its page-aligned base; shared words are read
    // atomically.
    let word = unsafe {
        &*obj
            .as_ptr()
            .add(BROADCAST_TABLE_LEN_AT)
            .cast::<std::sync::atomic::AtomicU32>()
    };
    let entries = word.load(std::sync::atomic::Ordering::Relaxed);
    if entries == 0 {
        return Some(core_len);
    }
    if entries > ipckit_core::broadcast::MAX_TABLE {
        return None;
    }
    let line = ipckit_core::region::LINE;
    core_len
        .checked_next_multiple_of(line)?
        .checked_add(entries as usize * line)
}
