//! The framed writer and reader over a pipe.

use std::os::fd::OwnedFd;
use std::time::Duration;

use super::{FramedReader, FramedWriter};
use crate::error::{CoreError, Error};
use crate::message::{MessageReceiver, MessageSender};
use crate::transport::pipe::raw_pipe;

fn pair(max: u32) -> (FramedWriter<OwnedFd>, FramedReader<OwnedFd>) {
    let (r, w) = raw_pipe().unwrap();
    (
        FramedWriter::new(w, max).unwrap(),
        FramedReader::new(r, max).unwrap(),
    )
}

#[test]
fn flush_through_the_trait_reports_a_pending_rest() {
    let (tx, mut rx) = pair(200_000);
    let mut tx: Box<dyn MessageSender> = Box::new(tx);
    assert!(tx.flush(Some(Duration::ZERO)).unwrap()); // nothing pending
    tx.try_send(&vec![3u8; 150_000]).unwrap(); // accepted in part
    assert!(!tx.flush(Some(Duration::ZERO)).unwrap()); // the pipe is full
    let mut buf = vec![0u8; 200_000];
    let mut got = None;
    while got.is_none() {
        let done = tx.flush(Some(Duration::from_millis(1))).unwrap();
        match rx.try_recv(&mut buf) {
            Ok(n) => got = Some(n),
            Err(Error::Empty) => {}
            Err(e) => panic!("{e}"),
        }
        if got.is_some() {
            assert!(done || tx.flush(None).unwrap());
        }
    }
    assert_eq!(got, Some(150_000));
    assert!(buf[..150_000].iter().all(|&b| b == 3));
    assert!(tx.flush(Some(Duration::ZERO)).unwrap());
}

#[test]
fn try_send_on_full_pipe_never_leaves_half_a_frame() {
    let (mut tx, mut rx) = pair(200_000);
    let big = vec![7u8; 150_000];
    // The first frame goes out in part (a pipe holds 64 KiB) and is
    // accepted; the second is refused while the rest is pending.
    tx.try_send(&big).unwrap();
    assert!(tx.pending() > 0);
    assert!(tx.try_send(b"x").unwrap_err().is_full());
    let mut buf = vec![0u8; 200_000];
    let mut got = Vec::new();
    while got.len() < 2 {
        let _ = tx.flush(Some(Duration::ZERO));
        if got.is_empty() && tx.pending() == 0 {
            tx.try_send(b"y").unwrap();
        }
        match rx.try_recv(&mut buf) {
            Ok(n) => got.push(buf[..n].to_vec()),
            Err(e) => assert!(e.is_empty()),
        }
    }
    assert_eq!(got[0], big);
    assert_eq!(got[1], b"y");
}

#[test]
fn small_buffer_keeps_the_frame_and_oversize_is_refused() {
    let (mut tx, mut rx) = pair(16);
    assert_eq!(
        tx.send(&[0; 17]).unwrap_err().core(),
        Some(CoreError::FrameTooLarge { len: 17, max: 16 })
    );
    tx.send(b"0123456789").unwrap();
    let mut small = [0u8; 4];
    assert_eq!(
        rx.recv(&mut small).unwrap_err().core(),
        Some(CoreError::BufferTooSmall { required: 10 })
    );
    let mut buf = [0u8; 16];
    assert_eq!(rx.recv(&mut buf).unwrap(), 10);
    assert!(
        rx.recv_timeout(&mut buf, Some(Duration::from_millis(20)))
            .unwrap_err()
            .is_timeout()
    );
}

#[test]
fn cut_inside_a_frame_is_truncated() {
    let (r, w) = raw_pipe().unwrap();
    use std::io::Write;
    std::fs::File::from(w)
        .write_all(&[5, 0, 0, 0, 1, 2])
        .unwrap();
    let mut rx = FramedReader::new(r, 64).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        rx.recv(&mut buf).unwrap_err().core(),
        Some(CoreError::Truncated { missing: 3 })
    );
}
