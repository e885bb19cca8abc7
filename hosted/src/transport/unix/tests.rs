//! Message sockets and addresses, in one process.

use std::time::Duration;

use super::*;
use crate::error::{CoreError, Error};
use crate::message::{MessageReceiver, MessageSender};

#[test]
fn seqpacket_small_buffer_and_oversize() {
    let (mut a, mut b) = SeqPacket::pair(100).unwrap();
    assert_eq!(
        a.send(&[0; 101]).unwrap_err().core(),
        Some(CoreError::FrameTooLarge { len: 101, max: 100 })
    );
    a.send(&[1; 50]).unwrap();
    let mut small = [0u8; 10];
    assert_eq!(
        b.recv(&mut small).unwrap_err().core(),
        Some(CoreError::BufferTooSmall { required: 50 })
    );
    let mut buf = [0u8; 100];
    assert_eq!(b.recv(&mut buf).unwrap(), 50);
    assert!(b.try_recv(&mut buf).unwrap_err().is_empty());
}

#[test]
fn datagram_abstract_and_path() {
    let name = format!("ipckit-unit-{}", std::process::id());
    let rx_addr = UnixAddr::abstract_name(&name);
    let mut rx = Datagram::bind(&rx_addr, 64).unwrap();
    let mut tx = Datagram::connect(&rx_addr, 64).unwrap();
    tx.send(b"").unwrap();
    tx.send(b"abc").unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(rx.recv(&mut buf).unwrap(), 0);
    assert_eq!(rx.recv(&mut buf).unwrap(), 3);
    drop(rx);
    assert!(tx.send(b"x").unwrap_err().is_peer_gone());

    let path = std::env::temp_dir().join(format!("{name}.sock"));
    let l = UnixStreamListener::bind(&UnixAddr::path(&path), 64).unwrap();
    assert!(matches!(
        UnixStreamListener::bind(&UnixAddr::path(&path), 64),
        Err(Error::AlreadyExists(_))
    ));
    let mut c = connect_stream(l.addr(), 64).unwrap();
    let mut s = l.accept(Some(Duration::from_secs(5))).unwrap();
    c.send(b"hi").unwrap();
    assert_eq!(s.recv(&mut buf).unwrap(), 2);
    assert_eq!(peer_cred(s.get_ref()).unwrap().pid, std::process::id());
    drop(l);
    assert!(!path.exists());
}

#[test]
fn socket_files_get_exactly_the_mode_asked_for() {
    use std::os::unix::fs::PermissionsExt;
    let mode_of = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let path = std::env::temp_dir().join(format!("ipckit-unit-sockmode-{}", std::process::id()));
    let addr = UnixAddr::path(&path);
    let l = UnixStreamListener::bind(&addr, 64).unwrap();
    assert_eq!(mode_of(&path), 0o600);
    drop(l);
    // 0o666 is what a umask of 022 would cut to 0o644.
    let l = SeqPacketListener::bind_with_mode(&addr, 64, 0o666).unwrap();
    assert_eq!(mode_of(&path), 0o666);
    drop(l);
    let mut rx = Datagram::bind_with_mode(&addr, 64, 0o620).unwrap();
    assert_eq!(mode_of(&path), 0o620);
    let mut tx = Datagram::connect(&addr, 64).unwrap();
    tx.send(b"x").unwrap();
    assert_eq!(rx.recv_vec().unwrap(), b"x");
    drop(rx);
    assert!(!path.exists());
    let e = UnixStreamListener::bind_with_mode(&addr, 64, 0o4777).unwrap_err();
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert!(!path.exists());
    // Abstract names have no file: the mode is ignored.
    let abs = UnixAddr::abstract_name(format!("ipckit-unit-sockmode-{}", std::process::id()));
    drop(UnixStreamListener::bind_with_mode(&abs, 64, 0o4777).unwrap());
}
