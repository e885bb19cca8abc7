//! Loans and frames on both byte channels, in one process: each test runs
//! on the SPSC channel (`bytes`) and the MPSC channel (`mpsc_bytes`)
//! through one small trait, so both keep the same meanings. The
//! cross-process behaviour (a receiver killed holding a frame) is in
//! `tests/zero_copy_process.rs`.

use std::time::{Duration, Instant};

use crate::channel::{Loan, bytes, mpsc_bytes};
use crate::error::{CoreError, Error, Result};

const CAPACITY: u32 = 4096;
/// Half the data area less a record header.
const MAX: usize = 2040;

/// The two ends of a byte channel, as the tests drive them.
trait Pair: Sized {
    type Tx: Send;
    type Rx: Send;
    fn pair() -> Result<(Self::Tx, Self::Rx)>;
    fn try_loan(tx: &mut Self::Tx, len: usize) -> Result<Loan<'_>>;
    fn loan_timeout(tx: &mut Self::Tx, len: usize, t: Option<Duration>) -> Result<Loan<'_>>;
    fn send(tx: &mut Self::Tx, msg: &[u8]) -> Result<()>;
    fn recv(rx: &mut Self::Rx, buf: &mut [u8]) -> Result<usize>;
    fn try_recv_ref(rx: &mut Self::Rx) -> Result<crate::channel::FrameRef<'_>>;
    fn recv_ref_timeout(
        rx: &mut Self::Rx,
        t: Option<Duration>,
    ) -> Result<crate::channel::FrameRef<'_>>;
}

struct Spsc;

impl Pair for Spsc {
    type Tx = bytes::Sender;
    type Rx = bytes::Receiver;
    fn pair() -> Result<(Self::Tx, Self::Rx)> {
        crate::channel::bytes().capacity(CAPACITY as usize).pair()
    }
    fn try_loan(tx: &mut Self::Tx, len: usize) -> Result<Loan<'_>> {
        tx.try_loan(len)
    }
    fn loan_timeout(tx: &mut Self::Tx, len: usize, t: Option<Duration>) -> Result<Loan<'_>> {
        tx.loan_within(len, t)
    }
    fn send(tx: &mut Self::Tx, msg: &[u8]) -> Result<()> {
        tx.send(msg)
    }
    fn recv(rx: &mut Self::Rx, buf: &mut [u8]) -> Result<usize> {
        rx.recv_timeout(buf, Duration::from_secs(10))
    }
    fn try_recv_ref(rx: &mut Self::Rx) -> Result<crate::channel::FrameRef<'_>> {
        rx.try_recv_ref()
    }
    fn recv_ref_timeout(
        rx: &mut Self::Rx,
        t: Option<Duration>,
    ) -> Result<crate::channel::FrameRef<'_>> {
        rx.recv_ref_within(t)
    }
}

struct Mpsc;

impl Pair for Mpsc {
    type Tx = mpsc_bytes::Sender;
    type Rx = mpsc_bytes::Receiver;
    fn pair() -> Result<(Self::Tx, Self::Rx)> {
        crate::channel::mpsc_bytes()
            .capacity(CAPACITY as usize)
            .pair()
    }
    fn try_loan(tx: &mut Self::Tx, len: usize) -> Result<Loan<'_>> {
        tx.try_loan(len)
    }
    fn loan_timeout(tx: &mut Self::Tx, len: usize, t: Option<Duration>) -> Result<Loan<'_>> {
        tx.loan_within(len, t)
    }
    fn send(tx: &mut Self::Tx, msg: &[u8]) -> Result<()> {
        tx.send(msg)
    }
    fn recv(rx: &mut Self::Rx, buf: &mut [u8]) -> Result<usize> {
        rx.recv_timeout(buf, Duration::from_secs(10))
    }
    fn try_recv_ref(rx: &mut Self::Rx) -> Result<crate::channel::FrameRef<'_>> {
        rx.try_recv_ref()
    }
    fn recv_ref_timeout(
        rx: &mut Self::Rx,
        t: Option<Duration>,
    ) -> Result<crate::channel::FrameRef<'_>> {
        rx.recv_ref_within(t)
    }
}

/// Runs `test` on both channels.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod spsc {
            $(#[test]
            fn $name() -> crate::error::Result<()> {
                super::$name::<super::Spsc>()
            })*
        }
        mod mpsc {
            $(#[test]
            fn $name() -> crate::error::Result<()> {
                super::$name::<super::Mpsc>()
            })*
        }
    };
}

both!(
    loan_written_in_place_arrives_whole,
    loan_dropped_delivers_nothing_and_gives_room_back,
    send_first_sends_a_prefix_and_refuses_past_the_end,
    loan_over_the_largest_message_names_the_channel,
    loan_waits_for_room_and_times_out,
    loan_gets_peer_gone_when_the_receiver_leaves,
    frame_is_released_on_drop_and_kept_when_never_dropped,
    frame_room_goes_back_only_when_released,
    frame_reads_are_exact_or_partial,
    recv_ref_waits_then_reports_peer_gone_after_the_drain,
);

fn loan_written_in_place_arrives_whole<P: Pair>() -> Result<()> {
    let (mut tx, mut rx) = P::pair()?;
    let mut loan = P::try_loan(&mut tx, 11)?;
    assert_eq!((loan.len(), loan.is_empty()), (11, false));
    loan.write_at(6, b"world")?;
    loan.copy_from_slice(b"hello ")?;
    loan.send();
    let mut buf = [0u8; 16];
    assert_eq!(P::recv(&mut rx, &mut buf)?, 11);
    assert_eq!(&buf[..11], b"hello world");
    // The blocking form with room at once, and an empty message.
    P::loan_timeout(&mut tx, 0, None)?.send();
    assert_eq!(P::try_recv_ref(&mut rx)?.len(), 0);
    Ok(())
}

fn loan_dropped_delivers_nothing_and_gives_room_back<P: Pair>() -> Result<()> {
    let (mut tx, mut rx) = P::pair()?;
    // Many times the capacity in dropped loans: their room comes back
    // (SPSC) or is skipped by the receiver (MPSC, discarded records).
    for round in 0..64u8 {
        let mut loan = P::try_loan(&mut tx, 1000)?;
        loan.write_at(0, &[round; 1000])?;
        drop(loan);
        if round % 4 == 0 {
            // The receiver must find nothing but keep pace (MPSC: it
            // consumes the discarded records).
            assert!(P::try_recv_ref(&mut rx).unwrap_err().is_empty());
        }
    }
    assert!(P::try_recv_ref(&mut rx).unwrap_err().is_empty());
    P::send(&mut tx, b"after")?;
    assert_eq!(P::try_recv_ref(&mut rx)?.to_vec(), b"after");
    Ok(())
}

fn send_first_sends_a_prefix_and_refuses_past_the_end<P: Pair>() -> Result<()> {
    let (mut tx, mut rx) = P::pair()?;
    let mut loan = P::try_loan(&mut tx, 100)?;
    loan.write_at(0, b"short")?;
    loan.send_first(5)?;
    let mut loan = P::try_loan(&mut tx, 8)?;
    loan.write_at(0, b"nothing!")?;
    assert!(matches!(
        loan.send_first(9),
        Err(Error::Core(CoreError::OutOfRange { end: 9, len: 8 }))
    ));
    P::send(&mut tx, b"next")?;
    assert_eq!(P::try_recv_ref(&mut rx)?.to_vec(), b"short");
    assert_eq!(P::try_recv_ref(&mut rx)?.to_vec(), b"next");
    assert!(P::try_recv_ref(&mut rx).unwrap_err().is_empty());
    Ok(())
}

fn loan_over_the_largest_message_names_the_channel<P: Pair>() -> Result<()> {
    let (mut tx, mut rx) = P::pair()?;
    let too_large = |e: Error| match e {
        Error::Channel { name, error, .. } => {
            assert!(name.starts_with("memfd"), "{name}");
            assert_eq!(
                error,
                CoreError::FrameTooLarge {
                    len: MAX as u32 + 1,
                    max: MAX as u32
                }
            );
        }
        other => panic!("{other:?}"),
    };
    too_large(P::try_loan(&mut tx, MAX + 1).unwrap_err());
    too_large(P::loan_timeout(&mut tx, MAX + 1, None).unwrap_err());
    // The largest message fits; a full channel stays a plain `Full`.
    P::try_loan(&mut tx, MAX)?.send();
    P::try_loan(&mut tx, MAX)?.send();
    assert!(P::try_loan(&mut tx, MAX).unwrap_err().is_full());
    assert_eq!(P::try_recv_ref(&mut rx)?.len(), MAX);
    Ok(())
}

fn loan_waits_for_room_and_times_out<P: Pair>() -> Result<()> {
    let (mut tx, mut rx) = P::pair()?;
    P::send(&mut tx, &[1; MAX])?;
    P::send(&mut tx, &[2; MAX])?;
    let t = Instant::now();
    let err = P::loan_timeout(&mut tx, MAX, Some(Duration::from_millis(30))).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(t.elapsed() >= Duration::from_millis(30));
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut buf = vec![0; MAX];
            P::recv(&mut rx, &mut buf).map(|_| rx)
        });
        let mut loan = P::loan_timeout(&mut tx, MAX, Some(Duration::from_secs(10)))?;
        loan.write_at(0, &[3; MAX])?;
        loan.send();
        let mut rx = reader.join().expect("reader")?;
        let mut buf = vec![0; MAX];
        for i in 2..=3 {
            assert_eq!(P::recv(&mut rx, &mut buf)?, MAX);
            assert_eq!(buf, [i; MAX]);
        }
        Ok(())
    })
}

fn loan_gets_peer_gone_when_the_receiver_leaves<P: Pair>() -> Result<()> {
    let (mut tx, rx) = P::pair()?;
    P::send(&mut tx, &[1; MAX])?;
    P::send(&mut tx, &[2; MAX])?;
    drop(rx);
    let err = P::loan_timeout(&mut tx, MAX, Some(Duration::from_secs(10))).unwrap_err();
    assert!(err.is_peer_gone(), "{err}");
    Ok(())
}

fn frame_is_released_on_drop_and_kept_when_never_dropped<P: Pair>() -> Result<()> {
    let (mut tx, mut rx) = P::pair()?;
    for m in [&b"first"[..], b"second", b"third"] {
        P::send(&mut tx, m)?;
    }
    // Never dropped (as by a receiver that dies holding it): stays queued.
    std::mem::forget(P::try_recv_ref(&mut rx)?);
    assert_eq!(P::try_recv_ref(&mut rx)?.to_vec(), b"first");
    // The drop above released it; `release` does the same.
    let frame = P::try_recv_ref(&mut rx)?;
    assert_eq!(frame.to_vec(), b"second");
    frame.release();
    assert_eq!(P::try_recv_ref(&mut rx)?.to_vec(), b"third");
    assert!(P::try_recv_ref(&mut rx).unwrap_err().is_empty());
    Ok(())
}

fn frame_room_goes_back_only_when_released<P: Pair>() -> Result<()> {
    let (mut tx, mut rx) = P::pair()?;
    // 32 records of 128 bytes fill the 4096 bytes exactly.
    for i in 0..32 {
        P::send(&mut tx, &[i; 120])?;
    }
    assert!(P::try_loan(&mut tx, 120).unwrap_err().is_full());
    let frame = P::try_recv_ref(&mut rx)?;
    assert!(P::try_loan(&mut tx, 120).unwrap_err().is_full());
    drop(frame);
    P::try_loan(&mut tx, 120)?.send();
    Ok(())
}

fn frame_reads_are_exact_or_partial<P: Pair>() -> Result<()> {
    let (mut tx, mut rx) = P::pair()?;
    P::send(&mut tx, b"0123456789")?;
    let frame = P::try_recv_ref(&mut rx)?;
    assert_eq!((frame.len(), frame.is_empty()), (10, false));
    let mut two = [0u8; 2];
    frame.read_at(8, &mut two)?;
    assert_eq!(&two, b"89");
    assert!(matches!(
        frame.read_at(9, &mut two),
        Err(Error::Core(CoreError::OutOfRange { end: 11, len: 10 }))
    ));
    assert_eq!(frame.read_partial(9, &mut two), 1);
    assert_eq!(frame.read_partial(10, &mut two), 0);
    assert!(matches!(
        frame.copy_to(&mut [0u8; 9]),
        Err(Error::Core(CoreError::BufferTooSmall { required: 10 }))
    ));
    let mut all = [0u8; 16];
    assert_eq!(frame.copy_to(&mut all)?, 10);
    assert_eq!(&all[..10], b"0123456789");
    assert_eq!(frame.as_ptr() as usize % 8, 0);
    // SAFETY: the sender is ours and idle.
    assert_eq!(unsafe { frame.as_slice() }, b"0123456789");
    assert!(format!("{frame:?}").contains("len: 10"));
    Ok(())
}

fn recv_ref_waits_then_reports_peer_gone_after_the_drain<P: Pair>() -> Result<()> {
    let (mut tx, mut rx) = P::pair()?;
    let err = P::recv_ref_timeout(&mut rx, Some(Duration::from_millis(30))).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    std::thread::scope(|s| {
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut loan = P::try_loan(&mut tx, 4).expect("room");
            loan.copy_from_slice(b"late").expect("fits");
            loan.send();
            P::send(&mut tx, b"last").expect("room");
            // `tx` drops here: the receiver drains, then learns it left.
        });
        assert_eq!(P::recv_ref_timeout(&mut rx, None)?.to_vec(), b"late");
        assert_eq!(P::recv_ref_timeout(&mut rx, None)?.to_vec(), b"last");
        let err = P::recv_ref_timeout(&mut rx, Some(Duration::from_secs(10))).unwrap_err();
        assert!(err.is_peer_gone(), "{err}");
        Ok(())
    })
}

/// The MPSC receiver's `recv_ref` skips the record of a sender that died
/// (here: closed; its slot is the only one with our pid) with a loan open,
/// as `recv` does.
#[test]
fn mpsc_recv_ref_skips_a_dead_senders_open_loan() -> Result<()> {
    let (tx, mut rx) = Mpsc::pair()?;
    std::mem::forget(tx.try_loan(16)?); // never sent nor dropped
    tx.send(b"behind it")?;
    assert!(rx.try_recv_ref().unwrap_err().is_empty());
    drop(tx); // closed: its loan can never be finished
    let frame = rx.recv_ref_timeout(Duration::from_secs(10))?;
    assert_eq!(frame.to_vec(), b"behind it");
    assert_eq!(frame.sender_id(), Some(std::process::id()));
    drop(frame);
    assert_eq!(rx.skipped().records, 1);
    // Then the channel is drained and its one sender gone.
    let err = rx.recv_ref_timeout(Duration::from_secs(10)).unwrap_err();
    assert!(err.is_peer_gone(), "{err}");
    Ok(())
}

/// The SPSC channel names no sender.
#[test]
fn spsc_frame_names_no_sender() -> Result<()> {
    let (mut tx, mut rx) = Spsc::pair()?;
    tx.send(b"x")?;
    assert_eq!(rx.try_recv_ref()?.sender_id(), None);
    Ok(())
}
