//! Unix domain sockets: a framed stream connection at an abstract address
//! with the peer's credentials and a memfd handed over with `SCM_RIGHTS`,
//! then seqpacket messages at a filesystem address (the socket file goes
//! with the listener). The client is this program, re-executed.
//!
//! `cargo run -p ipckit-examples --example unix_socket`

use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::shm::Memfd;
use ipckit::transport::unix::{self, SeqPacket, SeqPacketListener, UnixAddr, UnixStreamListener};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The client: argv = [_, abstract name, socket path].
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 {
        let mut conn = unix::connect_stream(&UnixAddr::abstract_name(&args[1]), 4096)?;
        conn.send(b"hello over a stream socket")?;
        let fd = unix::recv_fd_timeout(conn.get_ref(), WAIT)?;
        let memfd = Memfd::from_fd(fd)?; // checks the seals
        println!("client: received a memfd of {} bytes", memfd.len());
        let mut seq = SeqPacket::connect(&UnixAddr::path(&args[2]), 4096)?;
        seq.send(b"")?; // an empty message keeps its boundary
        seq.send(b"a seqpacket message")?;
        return Ok(());
    }

    let pid = std::process::id();
    let name = format!("ipckit-example-{pid}");
    let path = std::env::temp_dir().join(format!("ipckit-example-{pid}.sock"));
    let stream_listener = UnixStreamListener::bind(&UnixAddr::abstract_name(&name), 4096)?;
    let seq_listener = SeqPacketListener::bind(&UnixAddr::path(&path), 4096)?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg(&name)
        .arg(&path)
        .spawn()?;

    let mut conn = stream_listener.accept(WAIT)?;
    let cred = unix::peer_cred(conn.get_ref())?;
    println!(
        "server: peer pid {} uid {} gid {} (child is {})",
        cred.pid,
        cred.uid,
        cred.gid,
        child.id()
    );
    println!("server: {:?}", String::from_utf8_lossy(&conn.recv_vec()?));
    let memfd = Memfd::create("example", 8192)?;
    unix::send_fd_timeout(conn.get_ref(), memfd.as_fd(), WAIT)?;

    let mut seq = seq_listener.accept(WAIT)?;
    loop {
        match seq.recv_vec() {
            Ok(m) => println!(
                "server: seqpacket message of {} bytes: {:?}",
                m.len(),
                String::from_utf8_lossy(&m)
            ),
            Err(e) if e.is_peer_gone() => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("client exited: {}", child.wait()?);
    drop(seq_listener); // removes the socket file
    println!("{} removed: {}", path.display(), !path.exists());
    Ok(())
}
