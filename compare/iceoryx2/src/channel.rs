//! ipckit's named byte channel, the reference row: two channels (`ping`
//! from the measuring side, `pong` back), blocking `send` / `recv` with the
//! channel's own waiting (a spin budget, then a futex sleep).

use std::time::Duration;

use ipckit::channel::{self, bytes};

use crate::harness::{Link, SLICE};

/// One side's ends: `tx` sends, `rx` receives.
struct Ends {
    tx: bytes::Sender,
    rx: bytes::Receiver,
}

fn ping(name: &str) -> String {
    format!("{name}-ping")
}

fn pong(name: &str) -> String {
    format!("{name}-pong")
}

/// A builder for `words`-long messages, one in flight (room for two).
fn builder(words: usize) -> channel::Builder<channel::Bytes> {
    channel::bytes().max_message(words * 8).messages(2)
}

impl Link for Ends {
    fn send(&mut self, msg: &[u64]) -> Result<(), String> {
        self.tx
            .send(bytemuck::cast_slice(msg))
            .map_err(|e| e.to_string())
    }

    fn recv(&mut self, msg: &mut [u64]) -> Result<bool, String> {
        match self.rx.recv_timeout(bytemuck::cast_slice_mut(msg), SLICE) {
            Ok(n) if n == msg.len() * 8 => Ok(true),
            Ok(n) => Err(format!("a {n}-byte message, not {}", msg.len() * 8)),
            Err(e) if e.is_timeout() => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    fn joined(&mut self) -> Result<(), String> {
        // The peer has opened both: the names can go.
        let patience = Duration::from_secs(1);
        self.tx
            .remove_name_after(1, patience)
            .and_then(|()| self.rx.remove_name_after(1, patience))
            .map_err(|e| e.to_string())
    }
}

/// The measuring side: creates both channels, then runs `f` over them.
pub fn parent(
    name: &str,
    words: usize,
    f: impl FnOnce(&mut dyn Link) -> Result<f64, String>,
) -> Result<f64, String> {
    let b = builder(words);
    let tx = b.create(&ping(name)).map_err(|e| e.to_string())?;
    let rx = match b.create(&pong(name)) {
        Ok(rx) => rx,
        Err(e) => {
            drop(tx);
            let _ = ipckit::shm::ShmObject::remove(&channel_object(&ping(name)));
            return Err(e.to_string());
        }
    };
    let mut ends = Ends { tx, rx };
    let result = f(&mut ends);
    // Names left by a turn that failed before the peer joined.
    for n in [ping(name), pong(name)] {
        let _ = ipckit::shm::ShmObject::remove(&channel_object(&n));
    }
    result
}

fn channel_object(name: &str) -> String {
    channel::object_name(name).map_or_else(|_| name.to_string(), |n| n.as_str().to_string())
}

/// The peer: opens both channels, then runs `f` over them.
pub fn peer(
    name: &str,
    words: usize,
    f: impl FnOnce(&mut dyn Link) -> Result<(), String>,
) -> Result<(), String> {
    let b = builder(words);
    let rx = b.open(&ping(name)).map_err(|e| e.to_string())?;
    let tx = b.open(&pong(name)).map_err(|e| e.to_string())?;
    f(&mut Ends { tx, rx })
}
