//! The ends the measurements drive: one small interface ([`Tx`], [`Rx`])
//! over the channels' and the core rings' calls, so that one loop measures
//! both.

use ipckit::channel::{bytes, spsc};
use ipckit::futex::Futex;
use ipckit::{CoreError, Error, frame};

/// Message size of the byte rows.
pub(crate) const SIZE: usize = 64;
/// Items per batch call.
pub(crate) const BATCH: usize = 64;
/// Slots of the `u64` rings.
pub(crate) const SLOTS: u32 = 1024;
/// Data bytes of the frame rings (as the frame benchmark).
pub(crate) const FRAME_BYTES: u32 = 64 << 10;

pub(crate) type Res<T> = Result<T, String>;

pub(crate) fn e2s(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The sending half of one link: `put` sends `seq` (a batch from `seq` on
/// if `batch`) and returns how many went, 0 when full.
pub(crate) trait Tx {
    fn put(&mut self, seq: u64, batch: bool) -> Res<u64>;
    /// The blocking send of one message (with a timeout of [`WAIT`]).
    fn put_wait(&mut self, seq: u64) -> Res<()>;
}

/// The receiving half: how many arrived (0 when empty) and the last one's
/// sequence number.
pub(crate) trait Rx {
    fn take(&mut self, batch: bool) -> Res<(u64, u64)>;
    /// The blocking receive of one message (with a timeout of [`WAIT`]).
    fn take_wait(&mut self) -> Res<u64>;
}

/// The timeout of the blocking calls of the count mode.
pub(crate) const WAIT: std::time::Duration = std::time::Duration::from_secs(1);

#[inline(always)]
pub(crate) fn flow<T>(r: Result<T, Error>, none: T) -> Res<T> {
    match r {
        Ok(v) => Ok(v),
        Err(Error::Full | Error::Empty) => Ok(none),
        Err(e) => Err(e.to_string()),
    }
}

#[inline(always)]
pub(crate) fn core_flow<T>(r: Result<T, CoreError>, none: T) -> Res<T> {
    match r {
        Ok(v) => Ok(v),
        Err(CoreError::Full | CoreError::Empty) => Ok(none),
        Err(e) => Err(e.to_string()),
    }
}

pub(crate) fn items(seq: u64) -> [u64; BATCH] {
    std::array::from_fn(|i| seq + i as u64)
}

pub(crate) fn message(seq: u64) -> [u8; SIZE] {
    let mut m = [7u8; SIZE];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

pub(crate) fn seq_of(m: &[u8]) -> u64 {
    m.get(..8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

impl Tx for spsc::Sender<u64> {
    #[inline]
    fn put(&mut self, seq: u64, batch: bool) -> Res<u64> {
        if batch {
            flow(self.try_send_slice(&items(seq)).map(|n| n as u64), 0)
        } else {
            flow(self.try_send(seq).map(|()| 1), 0)
        }
    }
    fn put_wait(&mut self, seq: u64) -> Res<()> {
        self.send_timeout(seq, WAIT).map_err(e2s)
    }
}

impl Rx for spsc::Receiver<u64> {
    #[inline]
    fn take(&mut self, batch: bool) -> Res<(u64, u64)> {
        if batch {
            let mut out = [0u64; BATCH];
            let n = flow(self.try_recv_slice(&mut out), 0)?;
            Ok((n as u64, if n > 0 { out[n - 1] } else { 0 }))
        } else {
            flow(self.try_recv().map(|v| (1, v)), (0, 0))
        }
    }
    fn take_wait(&mut self) -> Res<u64> {
        self.recv_timeout(WAIT).map_err(e2s)
    }
}

impl Tx for ipckit::spsc::Producer<'static, u64, Futex> {
    #[inline]
    fn put(&mut self, seq: u64, batch: bool) -> Res<u64> {
        if batch {
            core_flow(self.push_partial_slice(&items(seq)).map(|n| n as u64), 0)
        } else {
            core_flow(self.try_push(seq).map(|()| 1), 0)
        }
    }
    fn put_wait(&mut self, seq: u64) -> Res<()> {
        self.push_timeout(seq, Some(WAIT)).map_err(e2s)
    }
}

impl Rx for ipckit::spsc::Consumer<'static, u64, Futex> {
    #[inline]
    fn take(&mut self, batch: bool) -> Res<(u64, u64)> {
        if batch {
            let mut out = [0u64; BATCH];
            let n = core_flow(self.pop_partial_slice(&mut out), 0)?;
            Ok((n as u64, if n > 0 { out[n - 1] } else { 0 }))
        } else {
            core_flow(self.try_pop().map(|v| (1, v)), (0, 0))
        }
    }
    fn take_wait(&mut self) -> Res<u64> {
        self.pop_timeout(Some(WAIT)).map_err(e2s)
    }
}

impl Tx for bytes::Sender {
    #[inline]
    fn put(&mut self, seq: u64, batch: bool) -> Res<u64> {
        let m = message(seq);
        if batch {
            match self.try_loan(SIZE) {
                Ok(mut loan) => {
                    loan.copy_from_slice(&m).map_err(e2s)?;
                    loan.send();
                    Ok(1)
                }
                Err(e) => flow(Err(e), 0),
            }
        } else {
            flow(self.try_send(&m).map(|()| 1), 0)
        }
    }
    fn put_wait(&mut self, seq: u64) -> Res<()> {
        self.send_timeout(&message(seq), WAIT).map_err(e2s)
    }
}

impl Rx for bytes::Receiver {
    #[inline]
    fn take(&mut self, batch: bool) -> Res<(u64, u64)> {
        let mut buf = [0u8; SIZE];
        let n = if batch {
            match self.try_recv_ref() {
                Ok(frame) => {
                    let n = frame.copy_to(&mut buf).map_err(e2s)?;
                    frame.release();
                    n
                }
                Err(e) => flow(Err(e), 0)?,
            }
        } else {
            flow(self.try_recv(&mut buf), 0)?
        };
        Ok(if n == 0 {
            (0, 0)
        } else {
            (1, seq_of(&buf[..n]))
        })
    }
    fn take_wait(&mut self) -> Res<u64> {
        let mut buf = [0u8; SIZE];
        let n = self.recv_timeout(&mut buf, WAIT).map_err(e2s)?;
        Ok(seq_of(&buf[..n]))
    }
}

impl Tx for frame::spsc::Producer<'static, Futex> {
    #[inline]
    fn put(&mut self, seq: u64, batch: bool) -> Res<u64> {
        let m = message(seq);
        if batch {
            match self.try_grant(SIZE) {
                Ok(mut grant) => {
                    grant.copy_from_slice(&m).map_err(e2s)?;
                    grant.commit_all();
                    Ok(1)
                }
                Err(e) => core_flow(Err(e), 0),
            }
        } else {
            core_flow(self.try_send(&m).map(|()| 1), 0)
        }
    }
    fn put_wait(&mut self, seq: u64) -> Res<()> {
        self.send_timeout(&message(seq), Some(WAIT)).map_err(e2s)
    }
}

impl Rx for frame::spsc::Consumer<'static, Futex> {
    #[inline]
    fn take(&mut self, batch: bool) -> Res<(u64, u64)> {
        let mut buf = [0u8; SIZE];
        let n = if batch {
            match self.try_read() {
                Ok(frame) => {
                    let n = frame.copy_to(&mut buf).map_err(e2s)?;
                    frame.release();
                    n
                }
                Err(e) => core_flow(Err(e), 0)?,
            }
        } else {
            core_flow(self.try_recv(&mut buf), 0)?
        };
        Ok(if n == 0 {
            (0, 0)
        } else {
            (1, seq_of(&buf[..n]))
        })
    }
    fn take_wait(&mut self) -> Res<u64> {
        let mut buf = [0u8; SIZE];
        let n = self.recv_timeout(&mut buf, Some(WAIT)).map_err(e2s)?;
        Ok(seq_of(&buf[..n]))
    }
}
