//! `ipckit ls`: the ipckit objects on this machine, like `ipcs`.

use std::io::Write;
use std::path::PathBuf;

use ipckit::channel::{self, ChannelInfo, ChannelStatus, EndpointInfo, SlotState};

use crate::fail::{Fail, Result};
use crate::objects::{Snapshot, Target, capacity_unit, fill, kind_name, role_name};

/// Arguments of `ipckit ls`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Mapped files to list too (objects placed in files, given by path).
    pub files: Vec<PathBuf>,
}

/// One line of the listing.
struct Row {
    name: String,
    kind: String,
    capacity: String,
    elem: String,
    fill: String,
    status: String,
    endpoints: String,
}

fn endpoint(e: &EndpointInfo) -> String {
    let state = match e.state {
        Some(SlotState::Active) | Some(SlotState::Claiming) | None if e.alive => "alive",
        Some(SlotState::Closed) => "closed",
        _ => "dead",
    };
    format!("{}:{}({state})", role_name(e.role), e.process.pid)
}

fn status(s: &ChannelStatus) -> String {
    match s {
        ChannelStatus::Live => "live".into(),
        ChannelStatus::Idle => "idle".into(),
        ChannelStatus::Stale => "stale".into(),
        ChannelStatus::Unknown(why) => format!("unknown: {why}"),
        _ => "?".into(),
    }
}

/// The header-derived columns of a row, from a snapshot.
fn header_columns(target: &Target, row: &mut Row) {
    let Ok(snap) = Snapshot::read(target) else {
        return;
    };
    let Ok(info) = snap.header() else {
        return;
    };
    row.kind = kind_name(info.kind).into();
    row.capacity = format!("{} {}", info.capacity, capacity_unit(info.kind));
    row.elem = info.elem_size.to_string();
    if let Some(f) = fill(&snap, &info) {
        row.fill = if info.capacity > 0 {
            format!("{f} ({}%)", f * 100 / u64::from(info.capacity))
        } else {
            f.to_string()
        };
    }
}

fn channel_row(info: &ChannelInfo) -> Row {
    let mut row = Row {
        name: info.channel.clone(),
        kind: "?".into(),
        capacity: "-".into(),
        elem: "-".into(),
        fill: "-".into(),
        status: status(&info.status),
        endpoints: if info.endpoints.is_empty() {
            "-".into()
        } else {
            info.endpoints
                .iter()
                .map(endpoint)
                .collect::<Vec<_>>()
                .join(" ")
        },
    };
    header_columns(&Target::Shm(info.name.clone()), &mut row);
    row
}

fn file_row(path: &std::path::Path) -> Result<Row> {
    let target = Target::File(path.to_owned());
    let snap = Snapshot::read(&target)?;
    let mut row = Row {
        name: path.display().to_string(),
        kind: "?".into(),
        capacity: "-".into(),
        elem: "-".into(),
        fill: "-".into(),
        status: match snap.header() {
            Ok(_) => "file".into(),
            Err(e) => format!("unknown: {e}"),
        },
        endpoints: "-".into(),
    };
    header_columns(&target, &mut row);
    Ok(row)
}

/// Runs `ipckit ls`.
pub fn run(args: Args) -> Result<()> {
    let mut rows: Vec<Row> = channel::list()?.iter().map(channel_row).collect();
    for path in &args.files {
        rows.push(file_row(path)?);
    }
    let header = Row {
        name: "NAME".into(),
        kind: "KIND".into(),
        capacity: "CAPACITY".into(),
        elem: "ELEM".into(),
        fill: "FILL".into(),
        status: "STATUS".into(),
        endpoints: "ENDPOINTS (pid)".into(),
    };
    let width = |f: fn(&Row) -> &str| {
        rows.iter()
            .chain(std::iter::once(&header))
            .map(|r| f(r).len())
            .max()
            .unwrap_or(0)
    };
    let w = [
        width(|r| &r.name),
        width(|r| &r.kind),
        width(|r| &r.capacity),
        width(|r| &r.elem),
        width(|r| &r.fill),
        width(|r| &r.status),
    ];
    let mut out = std::io::stdout().lock();
    let mut print = |r: &Row| {
        writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}  {:<w5$}  {}",
            r.name,
            r.kind,
            r.capacity,
            r.elem,
            r.fill,
            r.status,
            r.endpoints,
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5],
        )
    };
    let written = std::iter::once(&header)
        .chain(rows.iter())
        .try_for_each(&mut print);
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(Fail::from),
    }
}
