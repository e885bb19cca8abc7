//! `ipckit inspect NAME`: every header field and counter of one object.

use std::fmt::Write as _;
use std::io::Write as _;

use ipckit::ObjectKind;
use ipckit::channel::ChannelStatus;
use ipckit::region::{ENDIAN_MARKER, FLAG_WAKES, LAYOUT_VERSION, MAGIC};

use crate::fail::{Fail, Result};
use crate::objects::{Snapshot, Target, capacity_unit, fill, kind_name, role_name};

/// Arguments of `ipckit inspect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A shm name (`ipckit-jobs`, `/ipckit-jobs`, `/dev/shm/ipckit-jobs`)
    /// or the path of a mapped file.
    pub name: String,
}

fn ascii(word: u32) -> String {
    word.to_le_bytes()
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
        .collect()
}

/// The report, and whether the header validated.
fn report(target: &Target) -> Result<(String, Option<String>)> {
    let snap = Snapshot::read(target)?;
    let mut s = String::new();
    let w = |s: &mut String, label: &str, value: String| {
        let _ = writeln!(s, "  {label:<18} {value}");
    };
    let _ = writeln!(s, "object   {}", target.display());
    let _ = writeln!(s, "path     {}", target.path().display());
    let _ = writeln!(s, "size     {} bytes", snap.len);
    let raw = |off| snap.word(off);
    let show = |v: Option<u32>| v.map_or("(not present)".to_string(), |v| v.to_string());
    let _ = writeln!(s, "header (raw words)");
    let magic = raw(0);
    w(
        &mut s,
        "magic",
        magic.map_or("(not present)".into(), |m| {
            let ok = if m == MAGIC { "ok" } else { "WRONG" };
            format!("{m:#010x} \"{}\" {ok}", ascii(m))
        }),
    );
    w(
        &mut s,
        "version",
        raw(4).map_or("(not present)".into(), |v| {
            format!(
                "{v}{}",
                if v == LAYOUT_VERSION {
                    ""
                } else {
                    " (unknown)"
                }
            )
        }),
    );
    w(
        &mut s,
        "kind",
        raw(8).map_or("(not present)".into(), |k| {
            format!("{k} ({})", kind_name(ObjectKind::from_code(k)))
        }),
    );
    w(
        &mut s,
        "endian",
        raw(12).map_or("(not present)".into(), |e| {
            let what = if e == ENDIAN_MARKER {
                "this machine's byte order"
            } else if e == ENDIAN_MARKER.swap_bytes() {
                "FOREIGN byte order"
            } else {
                "WRONG"
            };
            format!("{e:#010x} ({what})")
        }),
    );
    w(
        &mut s,
        "state",
        raw(16).map_or("(not present)".into(), |st| {
            let what = match st {
                0 => "uninitialised",
                1 => "initialising",
                2 => "ready",
                _ => "WRONG",
            };
            format!("{st} ({what})")
        }),
    );
    w(&mut s, "elem_size", show(raw(20)));
    w(&mut s, "elem_align", show(raw(24)));
    w(&mut s, "capacity", show(raw(28)));
    w(&mut s, "data_offset", show(raw(32)));
    w(
        &mut s,
        "flags",
        raw(36).map_or("(not present)".into(), |f| {
            format!(
                "{f:#x}{}",
                if f & FLAG_WAKES != 0 { " (wakes)" } else { "" }
            )
        }),
    );
    let header = snap.header();
    let invalid = match &header {
        Ok(_) => {
            let _ = writeln!(s, "validates  yes");
            None
        }
        Err(e) => {
            let _ = writeln!(s, "validates  NO: {e}");
            Some(e.to_string())
        }
    };
    if let Ok(info) = header {
        let _ = writeln!(s, "counters");
        match info.kind {
            Some(ObjectKind::Semaphore) => w(&mut s, "count", show(raw(128))),
            Some(kind) => {
                let ring = matches!(kind, ObjectKind::Spsc | ObjectKind::FrameSpsc);
                w(&mut s, "tail (next write)", show(raw(128)));
                if ring {
                    w(&mut s, "producer claim", show(raw(132)));
                    w(&mut s, "consumer waiting", show(raw(136)));
                } else if kind == ObjectKind::Mpmc {
                    w(&mut s, "consumers waiting", show(raw(132)));
                } else {
                    w(&mut s, "consumer waiting", show(raw(132)));
                    w(&mut s, "doorbell", show(raw(136)));
                }
                w(&mut s, "head (next read)", show(raw(256)));
                if kind == ObjectKind::Mpmc {
                    w(&mut s, "producers waiting", show(raw(260)));
                } else {
                    w(&mut s, "consumer claim", show(raw(260)));
                    w(&mut s, "producers waiting", show(raw(264)));
                }
                if kind == ObjectKind::FrameMpsc {
                    w(&mut s, "skipped records", show(raw(384)));
                    let bytes = raw(388)
                        .zip(raw(392))
                        .map(|(lo, hi)| (u64::from(hi) << 32 | u64::from(lo)).to_string());
                    w(
                        &mut s,
                        "skipped bytes",
                        bytes.unwrap_or_else(|| "(not present)".into()),
                    );
                }
                w(
                    &mut s,
                    "fill",
                    fill(&snap, &info).map_or("(positions out of range)".into(), |f| {
                        format!("{f} of {} {}", info.capacity, capacity_unit(info.kind))
                    }),
                );
            }
            None => {}
        }
    }
    if let Some(channel) = crate::objects::channel_info(target) {
        let _ = writeln!(s, "liveness");
        match channel {
            Ok(c) => {
                let status = match &c.status {
                    ChannelStatus::Live => "live (an endpoint is alive)".to_string(),
                    ChannelStatus::Idle => "idle (every endpoint closed cleanly)".into(),
                    ChannelStatus::Stale => {
                        "stale (an endpoint died; `rm --stale` removes it)".into()
                    }
                    ChannelStatus::Unknown(why) => format!("unknown: {why}"),
                    _ => "?".into(),
                };
                w(&mut s, "status", status);
                if c.message_type_id != 0 {
                    w(
                        &mut s,
                        "message type id",
                        format!("{:#018x}", c.message_type_id),
                    );
                }
                for e in &c.endpoints {
                    w(
                        &mut s,
                        &format!("{} slot {}", role_name(e.role), e.slot),
                        format!(
                            "{} pid {} start {} {}",
                            match e.state {
                                Some(ipckit::channel::SlotState::Free) => "free",
                                Some(ipckit::channel::SlotState::Claiming) => "claiming",
                                Some(ipckit::channel::SlotState::Active) => "active",
                                Some(ipckit::channel::SlotState::Closed) => "closed",
                                _ => "unknown state",
                            },
                            e.process.pid,
                            e.process.start_time,
                            if e.alive { "alive" } else { "not alive" }
                        ),
                    );
                }
            }
            Err(e) => w(&mut s, "status", format!("unreadable: {e}")),
        }
    }
    Ok((s, invalid))
}

/// Runs `ipckit inspect`.
pub fn run(args: Args) -> Result<()> {
    let target = Target::parse(&args.name);
    let (text, invalid) = report(&target)?;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    match invalid {
        Some(why) => Err(Fail::new(format!(
            "{}: header does not validate: {why}",
            target.display()
        ))),
        None => Ok(()),
    }
}
