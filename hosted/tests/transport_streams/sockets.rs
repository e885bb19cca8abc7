//! Unix stream, seqpacket and datagram sockets (filesystem, abstract and
//! socketpair) and TCP.

use super::*;

pub(super) type UStream = ipckit::transport::stream::Framed<std::os::unix::net::UnixStream>;

pub(super) fn unix_stream_pair(max: usize) -> Result<(UStream, UStream), String> {
    unix::stream_pair(max as u32).map_err(|e| serr("socketpair", e))
}

/// A connection through a listener at `addr` (made and accepted here).
pub(super) fn unix_stream_via(addr: &UnixAddr, max: usize) -> Result<(UStream, UStream), String> {
    let l = UnixStreamListener::bind(addr, max as u32).map_err(|e| serr("bind", e))?;
    let c = unix::connect_stream(addr, max as u32).map_err(|e| serr("connect", e))?;
    let s = l.accept(Some(DEADLINE)).map_err(|e| serr("accept", e))?;
    Ok((c, s))
}

pub(super) fn seqpacket_via(addr: &UnixAddr, max: usize) -> Result<(SeqPacket, SeqPacket), String> {
    let l = SeqPacketListener::bind(addr, max).map_err(|e| serr("bind", e))?;
    let c = SeqPacket::connect(addr, max).map_err(|e| serr("connect", e))?;
    let s = l.accept(Some(DEADLINE)).map_err(|e| serr("accept", e))?;
    Ok((c, s))
}

pub(super) fn datagram_via(addr: &UnixAddr, max: usize) -> Result<(Datagram, Datagram), String> {
    let rx = Datagram::bind(addr, max).map_err(|e| serr("bind", e))?;
    let tx = Datagram::connect(addr, max).map_err(|e| serr("connect", e))?;
    Ok((tx, rx))
}

pub(super) type TStream = ipckit::transport::stream::Framed<std::net::TcpStream>;

pub(super) fn tcp_pair(max: usize) -> Result<(TStream, TStream), String> {
    let l = tcp::TcpListener::bind("127.0.0.1:0", max as u32).map_err(|e| serr("bind", e))?;
    let addr = l.local_addr().map_err(|e| serr("local_addr", e))?;
    let c = tcp::connect(addr, max as u32, Some(DEADLINE)).map_err(|e| serr("connect", e))?;
    let s = l.accept(Some(DEADLINE)).map_err(|e| serr("accept", e))?;
    Ok((c, s))
}

/// Two framed stream socket pairs as one direction each, for tests that
/// need a sender and a receiver of different values (a `Framed` is both).
pub(super) fn framed_fd<F: AsFd>(f: &ipckit::transport::stream::Framed<F>) -> BorrowedFd<'_> {
    f.get_ref().as_fd()
}

/// Finishes a partly written frame, without waiting.
pub(super) fn framed_flush<F: AsFd>(f: &mut ipckit::transport::stream::Framed<F>) {
    let _ = f.flush(Some(Duration::ZERO));
}

/// A frame's start cut short: a prefix for 100 bytes and 10 of them.
pub(super) const CUT: [u8; 14] = [100, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

pub(super) fn abstract_addr(what: &str) -> UnixAddr {
    UnixAddr::abstract_name(unique_name(what))
}

// --- Unix stream
pub(super) fn unix_stream_order() -> TestResult {
    order(unix_stream_pair(ORDER_MAX)?, ORDER_MAX, End::PeerGone)?;
    let path = temp_path("stream.sock");
    order(
        unix_stream_via(&UnixAddr::path(&path), ORDER_MAX)?,
        ORDER_MAX,
        End::PeerGone,
    )?;
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    order(
        unix_stream_via(&abstract_addr("stream"), ORDER_MAX)?,
        ORDER_MAX,
        End::PeerGone,
    )
}
pub(super) fn unix_stream_max() -> TestResult {
    max_size(unix_stream_pair(1 << 20)?)
}
pub(super) fn unix_stream_peers_exit() -> TestResult {
    writer_exits(unix_stream_pair(1024)?, framed_fd, &[], is_gone)?;
    writer_exits(unix_stream_pair(1024)?, framed_fd, &CUT, is_truncated)?;
    reader_exits(unix_stream_pair(1024)?)
}
pub(super) fn unix_stream_timeouts() -> TestResult {
    // Frames larger than the socket buffer (small messages and a small
    // buffer: the message contract).
    timeouts(unix_stream_pair(1 << 20)?, 300_000, framed_flush)?;
    // A reader with a smaller maximum than its writer refuses the frame,
    // for good.
    let (r, w) = std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
    let mut tx = ipckit::transport::stream::FramedWriter::new(w, 1024).map_err(|e| serr("w", e))?;
    let mut rx = ipckit::transport::stream::FramedReader::new(r, 16).map_err(|e| serr("r", e))?;
    tx.send(&[0; 17]).map_err(|e| serr("send", e))?;
    let mut buf = [0u8; 1024];
    for _ in 0..2 {
        match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
            Err(Error::Core(CoreError::FrameTooLarge { len: 17, max: 16 })) => {}
            other => return Err(format!("oversized frame received: {other:?}")),
        }
    }
    Ok(())
}
pub(super) fn unix_credentials_and_fds() -> TestResult {
    let (a, b) = unix_stream_pair(1024)?;
    let mut a = Some(a);
    let mut b = Some(b);
    let mut child = fork_child(|| {
        drop(a.take());
        let b = b.take().expect("end");
        child_main(|| {
            // Hand a memfd over SCM_RIGHTS on the same socket.
            let memfd = ipckit::shm::Memfd::create("ts", 4096).map_err(|e| ferr("memfd", e))?;
            unix::send_fd_timeout(b.get_ref(), memfd.as_fd(), Some(DEADLINE))
                .map_err(|e| ferr("send_fd", e))
        })
    })?;
    let b_pid = child.pid as u32;
    drop(b);
    let a = a.take().expect("end");
    let cred = unix::peer_cred(a.get_ref()).map_err(|e| serr("peer_cred", e))?;
    // A socketpair's credentials are its creator's: this process.
    // SAFETY: plain queries.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if cred.pid != std::process::id() || cred.uid != uid || cred.gid != gid {
        return Err(format!("socketpair credentials {cred:?}"));
    }
    let fd = unix::recv_fd_timeout(a.get_ref(), Some(DEADLINE)).map_err(|e| serr("recv_fd", e))?;
    let memfd = ipckit::shm::Memfd::from_fd(fd).map_err(|e| serr("from_fd", e))?;
    if memfd.len() != 4096 {
        return Err("received memfd of the wrong size".into());
    }
    child.expect_exit(EXIT_OK)?;
    // Through a listener, the credentials are the connecting process's.
    let addr = abstract_addr("cred");
    let l = UnixStreamListener::bind(&addr, 64).map_err(|e| serr("bind", e))?;
    let addr2 = addr.clone();
    let mut child = fork_child(move || {
        child_main(|| {
            let mut c = unix::connect_stream(&addr2, 64).map_err(|e| ferr("connect", e))?;
            let mut buf = [0u8; 8];
            c.recv_timeout(&mut buf, Some(DEADLINE))
                .map(|_| ())
                .map_err(|e| ferr("recv", e))
        })
    })?;
    let mut s = l.accept(Some(DEADLINE)).map_err(|e| serr("accept", e))?;
    let cred = unix::peer_cred(s.get_ref()).map_err(|e| serr("peer_cred", e))?;
    if cred.pid != child.pid as u32 || b_pid == 0 {
        return Err(format!("peer pid {} != child {}", cred.pid, child.pid));
    }
    s.send(b"bye").map_err(|e| serr("send", e))?;
    child.expect_exit(EXIT_OK)
}
pub(super) fn unix_addresses() -> TestResult {
    let path = temp_path("addr.sock");
    let addr = UnixAddr::path(&path);
    let l = UnixStreamListener::bind(&addr, 64).map_err(|e| serr("bind", e))?;
    match UnixStreamListener::bind(&addr, 64) {
        Err(Error::AlreadyExists(_)) => {}
        other => return Err(format!("second bind: {other:?}")),
    }
    let a = abstract_addr("dup");
    let _l2 = SeqPacketListener::bind(&a, 64).map_err(|e| serr("bind", e))?;
    match SeqPacketListener::bind(&a, 64) {
        Err(Error::AlreadyExists(_)) => {}
        other => return Err(format!("second abstract bind: {other:?}")),
    }
    match unix::connect_stream(&UnixAddr::path(temp_path("nobody.sock")), 64) {
        Err(Error::NotFound(_)) => {}
        other => return Err(format!("connect to nothing: {other:?}")),
    }
    match l.accept(Some(Duration::ZERO)) {
        Err(e) if e.is_empty() => {}
        other => return Err(format!("accept with nobody: {other:?}")),
    }
    match UnixStreamListener::bind(&UnixAddr::path("x".repeat(200)), 64) {
        Err(Error::InvalidName { .. }) => {}
        other => return Err(format!("long path: {other:?}")),
    }
    // A forked child's copy of the listener leaves the file alone.
    let mut child = fork_child(|| 0)?;
    child.expect_exit(EXIT_OK)?;
    drop(l);
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    Ok(())
}

// --- seqpacket
pub(super) fn seqpacket_order() -> TestResult {
    let max = 4096;
    order(
        SeqPacket::pair(max).map_err(|e| serr("pair", e))?,
        max,
        End::PeerGone,
    )?;
    let path = temp_path("seq.sock");
    order(
        seqpacket_via(&UnixAddr::path(&path), max)?,
        max,
        End::PeerGone,
    )?;
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    Ok(())
}
pub(super) fn seqpacket_max() -> TestResult {
    max_size(SeqPacket::pair(unix::DEFAULT_MAX_MESSAGE_LEN).map_err(|e| serr("pair", e))?)?;
    // Beyond what the kernel takes: refused locally as too large.
    let (mut a, _b) = SeqPacket::pair(64 << 20).map_err(|e| serr("pair", e))?;
    match a.send(&vec![0u8; 16 << 20]) {
        Err(Error::Core(CoreError::FrameTooLarge { .. })) => Ok(()),
        other => Err(format!("16 MiB seqpacket: {other:?}")),
    }
}
pub(super) fn seqpacket_peers_exit() -> TestResult {
    let pair = || SeqPacket::pair(1024).map_err(|e| serr("pair", e));
    writer_exits(pair()?, |t| t.as_fd(), &[], is_gone)?;
    reader_exits(pair()?)
}

// --- datagram
pub(super) fn datagram_order() -> TestResult {
    let max = 4096;
    order(
        Datagram::pair(max).map_err(|e| serr("pair", e))?,
        max,
        End::TimesOut,
    )?;
    let path = temp_path("dgram.sock");
    order(
        datagram_via(&UnixAddr::path(&path), max)?,
        max,
        End::TimesOut,
    )?;
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    order(
        datagram_via(&abstract_addr("dgram"), max)?,
        max,
        End::TimesOut,
    )
}
pub(super) fn datagram_max() -> TestResult {
    max_size(Datagram::pair(unix::DEFAULT_MAX_MESSAGE_LEN).map_err(|e| serr("pair", e))?)
}
pub(super) fn datagram_peers_exit() -> TestResult {
    reader_exits(Datagram::pair(1024).map_err(|e| serr("pair", e))?)?;
    reader_exits(datagram_via(&abstract_addr("dgone"), 1024)?)
}

// --- TCP
pub(super) fn tcp_order() -> TestResult {
    order(tcp_pair(ORDER_MAX)?, ORDER_MAX, End::PeerGone)
}
pub(super) fn tcp_max() -> TestResult {
    max_size(tcp_pair(1 << 20)?)
}
pub(super) fn tcp_peers_exit() -> TestResult {
    writer_exits(tcp_pair(1024)?, framed_fd, &[], is_gone)?;
    writer_exits(tcp_pair(1024)?, framed_fd, &CUT, is_truncated)?;
    reader_exits(tcp_pair(1024)?)
}
/// Timeouts and a small buffer: the message contract.
pub(super) fn tcp_nodelay() -> TestResult {
    let (c, _s) = tcp_pair(64)?;
    let nodelay = c.get_ref().nodelay().map_err(|e| e.to_string())?;
    if !nodelay {
        return Err("TCP_NODELAY not set".into());
    }
    Ok(())
}

// --- Whom a client trusts

/// A server of another user (a child switched to `nobody`, as root) is
/// refused by every `connect` with `Untrusted`, and reached with
/// `Trust::Anyone`; this user's servers are reached by the plain `connect`
/// in every other test. Not root: the refusal cannot be set up (said on
/// stderr).
pub(super) fn unix_server_trust() -> TestResult {
    use ipckit::shm::Trust;
    // SAFETY: plain query.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("  not root: another user's server cannot be made; refusal NOT checked");
        return Ok(());
    }
    let (stream, packet) = (abstract_addr("trust-stream"), abstract_addr("trust-packet"));
    let path = temp_path("trust-dgram");
    let dgram = UnixAddr::path(&path);
    let (mut ready_tx, mut ready_rx) = pipe_with_max(64).map_err(|e| serr("pipe", e))?;
    let (mut done_tx, mut done_rx) = pipe_with_max(64).map_err(|e| serr("pipe", e))?;
    let (s, p, d) = (stream.clone(), packet.clone(), dgram.clone());
    let mut child = fork_child(move || {
        child_main(|| {
            // SAFETY: plain calls that change this child's credentials.
            if unsafe { libc::setgid(65534) != 0 || libc::setuid(65534) != 0 } {
                return Err(fail(EXIT_CHECK, "setuid(nobody) failed"));
            }
            let _s = UnixStreamListener::bind(&s, 64).map_err(|e| ferr("bind stream", e))?;
            let _p = SeqPacketListener::bind(&p, 64).map_err(|e| ferr("bind seqpacket", e))?;
            let _d = Datagram::bind(&d, 64).map_err(|e| ferr("bind datagram", e))?;
            ready_tx.send(b"ready").map_err(|e| ferr("ready", e))?;
            // Until the parent is done (or gone).
            let _ = done_rx.recv_timeout(&mut [0u8; 64], Some(DEADLINE));
            Ok(())
        })
    })?;
    ready_rx
        .recv_timeout(&mut [0u8; 64], Some(DEADLINE))
        .map_err(|e| serr("child ready", e))?;
    let refused = |what: &str, r: Result<(), Error>| match r {
        Err(Error::Untrusted { uid: 65534, .. }) => Ok(()),
        other => Err(format!("{what}: {other:?} (want Untrusted by uid 65534)")),
    };
    refused("stream", unix::connect_stream(&stream, 64).map(drop))?;
    refused("seqpacket", SeqPacket::connect(&packet, 64).map(drop))?;
    refused("datagram", Datagram::connect(&dgram, 64).map(drop))?;
    refused(
        "stream, Group",
        unix::connect_stream_with(&stream, 64, Trust::Group).map(drop),
    )?;
    unix::connect_stream_with(&stream, 64, Trust::Anyone).map_err(|e| serr("stream", e))?;
    SeqPacket::connect_with(&packet, 64, Trust::Anyone).map_err(|e| serr("seqpacket", e))?;
    Datagram::connect_with(&dgram, 64, Trust::Anyone).map_err(|e| serr("datagram", e))?;
    done_tx.send(b"done").map_err(|e| serr("done", e))?;
    child.expect_exit(EXIT_OK)
}
