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
