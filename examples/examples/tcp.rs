//! TCP with the same frames as every stream transport (the path between
//! two machines; here both ends are local). The client is this program,
//! re-executed with the server's address.
//!
//! `cargo run -p ipckit-examples --example tcp`

use std::process::Command;
use std::time::Duration;

use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::tcp::{TcpListener, connect};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The client: send a few requests, print the replies.
    if let Some(addr) = std::env::args().nth(1) {
        let mut conn = connect(addr.as_str(), 1 << 20, WAIT)?; // TCP_NODELAY set
        for word in ["ping", "pong", ""] {
            conn.send(word.as_bytes())?;
            let reply = conn.recv_vec()?;
            println!("client: {word:?} -> {} bytes", reply.len());
        }
        return Ok(()); // closing the connection ends the server's loop
    }

    // The server: bind an ephemeral port on loopback, answer with lengths.
    let listener = TcpListener::bind("127.0.0.1:0", 1 << 20)?;
    let addr = listener.local_addr()?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg(addr.to_string())
        .spawn()?;
    let mut conn = listener.accept(WAIT)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match conn.recv_timeout(&mut buf, WAIT) {
            Ok(n) => conn.send(&vec![b'*'; n])?,
            Err(e) if e.is_peer_gone() => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("client exited: {}", child.wait()?);
    Ok(())
}
