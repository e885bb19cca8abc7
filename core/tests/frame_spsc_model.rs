//! Property test: random sequences of every SPSC frame ring operation, with
//! random frame sizes from 0 to the largest frame, against a model: a
//! `VecDeque<Vec<u8>>` of frames plus the byte positions a frame ring must
//! have (record sizes, padding at the wrap), so that even `Full` is
//! predicted exactly. Positions start next to `u32::MAX` in most runs.

use std::collections::VecDeque;

use ipckit_core::frame::{self, spsc};
use ipckit_core::{AlignedBytes, Error, Region};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// `try_send` of a frame of this many bytes (scaled to the ring).
    Send(u32),
    /// `try_grant(want)`, write, `commit(len)` (`len` may exceed `want`).
    GrantCommit { want: u32, len: u32 },
    /// `try_grant(want)` then drop it.
    GrantDrop(u32),
    /// `try_recv` into a buffer of this many bytes.
    Recv(u32),
    /// `try_read`, copy out, `release` (or drop unreleased).
    Read { release: bool },
}

/// Sizes are drawn in 0..=1000 and scaled to the ring's largest frame, so
/// the edges (0, the largest, one more) come up for every capacity.
fn size() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..=1000, Just(0), Just(1000), Just(1001)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => size().prop_map(Op::Send),
        1 => (size(), size()).prop_map(|(want, len)| Op::GrantCommit { want, len }),
        1 => size().prop_map(Op::GrantDrop),
        2 => size().prop_map(Op::Recv),
        1 => any::<bool>().prop_map(|release| Op::Read { release }),
    ]
}

fn start() -> impl Strategy<Value = u32> {
    prop_oneof![
        (u32::MAX - 600..=u32::MAX).prop_map(|p| p & !7),
        any::<u32>().prop_map(|p| p & !7),
    ]
}

/// Operations per case; miri runs each about a thousand times slower, so
/// its few cases are short (they check the unsafe paths for UB; coverage
/// comes from the native run).
const MAX_OPS: usize = if cfg!(miri) { 30 } else { 150 };

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 512 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What a frame ring must do, in positions and frames.
struct Model {
    capacity: u32,
    max: u32,
    tail: u32,
    head: u32,
    frames: VecDeque<(Vec<u8>, u32)>,
}

impl Model {
    /// Where a `len`-byte frame would go: `Ok(bytes it advances tail by)`.
    fn room(&self, len: u32) -> Result<u32, Error> {
        if len > self.max {
            return Err(Error::FrameTooLarge { len, max: self.max });
        }
        let total = frame::record_len(len);
        let at = self.tail & (self.capacity - 1);
        let pad = if total > self.capacity - at {
            self.capacity - at
        } else {
            0
        };
        let free = self.capacity - self.tail.wrapping_sub(self.head);
        if pad + total > free {
            return Err(Error::Full);
        }
        Ok(pad + total)
    }

    /// Commits a `len`-byte frame into room reserved for `reserved` bytes.
    fn commit(&mut self, bytes: Vec<u8>, reserved_len: u32) {
        let total = frame::record_len(reserved_len);
        let at = self.tail & (self.capacity - 1);
        let pad = if total > self.capacity - at {
            self.capacity - at
        } else {
            0
        };
        let advance = pad + frame::record_len(bytes.len() as u32);
        self.tail = self.tail.wrapping_add(advance);
        self.frames.push_back((bytes, advance));
    }

    fn pop(&mut self) -> Option<Vec<u8>> {
        let (bytes, advance) = self.frames.pop_front()?;
        self.head = self.head.wrapping_add(advance);
        Some(bytes)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matches_a_model(cap_log in 4u32..11, position in start(), ops in prop::collection::vec(op(), 1..MAX_OPS)) {
        let capacity = 1u32 << cap_log;
        let mut bytes = Box::new(AlignedBytes::<{ 384 + 1024 }>::new());
        let options = spsc::Options::new(capacity).start_at(position);
        let ring = spsc::Ring::init_with(Region::from_slice(&mut bytes[..]), options).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let max = ring.max_frame_len();
        let mut model = Model { capacity, max, tail: position, head: position, frames: VecDeque::new() };
        let scale = |s: u32| if s == 1001 { max + 1 } else { s * max / 1000 };
        let mut seq = 0u8;
        let mut fill = |len: u32| {
            seq = seq.wrapping_add(1);
            (0..len).map(|i| seq ^ (i as u8).wrapping_mul(13)).collect::<Vec<u8>>()
        };

        for op in ops {
            match op {
                Op::Send(s) => {
                    let len = scale(s);
                    let frame = fill(len);
                    match model.room(len) {
                        Ok(_) => {
                            prop_assert_eq!(tx.try_send(&frame), Ok(()));
                            model.commit(frame, len);
                        }
                        Err(e) => prop_assert_eq!(tx.try_send(&frame), Err(e)),
                    }
                }
                Op::GrantCommit { want, len } => {
                    let (want, len) = (scale(want), scale(len));
                    match model.room(want) {
                        Ok(_) => {
                            let mut grant = tx.try_grant(want as usize).unwrap();
                            prop_assert_eq!(grant.len(), want as usize);
                            let frame = fill(want);
                            prop_assert_eq!(grant.copy_from_slice(&frame), Ok(()));
                            if len <= want {
                                prop_assert_eq!(grant.commit(len as usize), Ok(()));
                                model.commit(frame[..len as usize].to_vec(), want);
                            } else {
                                prop_assert_eq!(
                                    grant.commit(len as usize),
                                    Err(Error::OutOfRange {
                                        end: len as usize,
                                        len: want as usize
                                    })
                                );
                            }
                        }
                        Err(e) => prop_assert_eq!(tx.try_grant(want as usize).unwrap_err(), e),
                    }
                }
                Op::GrantDrop(s) => {
                    let want = scale(s);
                    let expected = model.room(want).map(|_| want as usize);
                    prop_assert_eq!(tx.try_grant(want as usize).map(|g| g.len()), expected);
                }
                Op::Recv(s) => {
                    let mut buf = vec![0u8; scale(s).min(max) as usize];
                    match model.frames.front() {
                        None => prop_assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty)),
                        Some((front, _)) if front.len() > buf.len() => prop_assert_eq!(
                            rx.try_recv(&mut buf),
                            Err(Error::BufferTooSmall { required: front.len() })
                        ),
                        Some(_) => {
                            let expected = model.pop().unwrap();
                            prop_assert_eq!(rx.try_recv(&mut buf), Ok(expected.len()));
                            prop_assert_eq!(&buf[..expected.len()], &expected[..]);
                        }
                    }
                }
                Op::Read { release } => match model.frames.front() {
                    None => prop_assert_eq!(rx.try_read().unwrap_err(), Error::Empty),
                    Some((front, _)) => {
                        let front = front.clone();
                        let read = rx.try_read().unwrap();
                        let mut out = vec![0u8; read.len()];
                        prop_assert_eq!(read.copy_to(&mut out), Ok(front.len()));
                        prop_assert_eq!(&out, &front);
                        if release {
                            read.release();
                            model.pop();
                        }
                    }
                },
            }
            let pending = model.tail.wrapping_sub(model.head) as usize;
            prop_assert_eq!(rx.pending_bytes(), pending);
            prop_assert_eq!(tx.free_bytes(), capacity as usize - pending);
        }
        while let Some(expected) = model.pop() {
            let mut buf = vec![0u8; max as usize];
            prop_assert_eq!(rx.try_recv(&mut buf), Ok(expected.len()));
            prop_assert_eq!(&buf[..expected.len()], &expected[..]);
        }
        prop_assert_eq!(rx.try_recv(&mut []), Err(Error::Empty));
    }
}
