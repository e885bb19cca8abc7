//! A sender and a receiver joined into one two-way link.

use std::time::Duration;

use crate::error::Result;
use crate::message::{MessageReceiver, MessageSender};

/// A sender and a receiver used as one two-way link: for transports whose
/// two directions are separate objects (a pipe pair, two shared-memory
/// channels), where a [`Client`](super::Client) or
/// [`Server`](super::Server) wants one.
///
/// ```
/// use std::time::Duration;
/// use ipckit::rpc::{Client, Pair, Server};
/// use ipckit::transport::pipe::pipe;
///
/// let (to_server, requests) = pipe()?;
/// let (responses, from_server) = pipe()?;
/// let server = std::thread::spawn(move || {
///     Server::new(Pair::new(responses, requests), "echo").serve(|req| Ok(req.to_vec()))
/// });
/// let mut client = Client::new(Pair::new(to_server, from_server), "echo");
/// assert_eq!(client.call(b"hi", Duration::from_secs(5))?, b"hi");
/// drop(client);
/// server.join().unwrap()?;
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Debug)]
pub struct Pair<S, R> {
    /// The sending half.
    pub tx: S,
    /// The receiving half.
    pub rx: R,
}

impl<S, R> Pair<S, R> {
    /// Joins `tx` and `rx`.
    pub fn new(tx: S, rx: R) -> Self {
        Self { tx, rx }
    }
}

impl<S: MessageSender, R> MessageSender for Pair<S, R> {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.tx.send_timeout(msg, timeout)
    }

    fn max_message_len(&self) -> usize {
        self.tx.max_message_len()
    }

    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.tx.flush(timeout)
    }
}

impl<S, R: MessageReceiver> MessageReceiver for Pair<S, R> {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.rx.recv_timeout(buf, timeout)
    }

    fn max_message_len(&self) -> usize {
        self.rx.max_message_len()
    }
}
