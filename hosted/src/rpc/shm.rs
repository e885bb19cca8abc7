//! A request/response service in shared memory, found by name, with
//! several clients.
//!
//! The server creates the channel `name`, an [`mpsc_bytes`] channel that
//! every client sends its requests on. Each client creates its own reply
//! channel, a [`bytes`] channel named `<name>.reply-<client id>`, and
//! announces it with a hello (wire kind 4, its payload the reply channel's
//! name). The server opens the reply channel on the hello (only a name of
//! exactly that form, so a client cannot make it open anything else) and
//! then removes the name: from then on the kernel frees the reply channel
//! when the client and the server have both let go, whichever ends first
//! and however. A client id is the client's pid with a per-process count
//! in its top 10 bits.
//!
//! Ends: a client that drops its end is noticed at the server's next
//! answer to it, which fails with [`Error::PeerGone`] and drops the
//! server's end of its reply channel; one that was killed, at the next
//! sweep (at every hello and every 4096 answers, reading `/proc`). A server that goes away
//! fails the waiting calls with [`Error::PeerGone`]: once it has opened the
//! caller's reply channel, as that channel's peer (its close wakes the
//! client, its death reaches it through a pidfd); before that (it died or
//! left without reading the hello), as the request channel's receiver,
//! which a waiting client checks every [`UNANSWERED_SLICE`] until the
//! server has joined its reply channel. A client whose hello was never read
//! removes its reply channel's name when it goes.
//!
//! ```
//! use std::time::Duration;
//! use ipckit::rpc::shm;
//!
//! let name = format!("doc-rpc-{}", std::process::id());
//! let mut server = shm::Server::create(&name, 64 << 10)?;
//! let mut client = shm::connect(&name, 16 << 10)?;
//! let id = client.request(b"ping")?;
//! let request = server.recv_request()?; // the hello is handled inside
//! server.respond(&request, b"pong")?;
//! assert_eq!(client.response(id, Duration::from_secs(5))?, b"pong");
//! # drop(server); ipckit::shm::ShmObject::remove(ipckit::channel::object_name(&name)?.as_str())?;
//! # Ok::<(), ipckit::Error>(())
//! ```
//!
//! [`mpsc_bytes`]: mod@crate::channel::mpsc_bytes
//! [`bytes`]: mod@crate::channel::bytes

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::answer::{self, Ends as _};
use super::{Client, HEADER_LEN, Header, Kind, Pair, Request};
use crate::channel::{bytes, mpsc_bytes, object_name};
use crate::error::{Error, Result};
use crate::message::{MessageReceiver, MessageSender};
use crate::shm::ShmObject;

/// A client of a shared-memory service: its requests on the service's
/// channel, its responses on its own.
pub type ShmClient = Client<Link>;

/// How often a client waiting for its first answer checks that the server
/// still holds the request channel, while the server has not yet opened
/// the client's reply channel (its death could not reach the client
/// through that channel). Once the server has joined, the wait is one
/// sleep, woken by an answer, the server's close or its death.
pub const UNANSWERED_SLICE: Duration = Duration::from_millis(10);

/// A [`ShmClient`]'s two channels: requests on the service's channel,
/// answers on the client's own reply channel (whose name it keeps); a
/// [`Pair`] that also notices the server's end before it joined the reply
/// channel (module docs).
#[derive(Debug)]
pub struct Link {
    pair: Pair<mpsc_bytes::Sender, bytes::Receiver>,
    reply: String,
}

impl Drop for Link {
    fn drop(&mut self) {
        // A server that never read the hello left the reply channel's name
        // in place (the server removes it when it opens the channel).
        if self.pair.rx.peers_joined() == 0 {
            if let Ok(object) = object_name(&self.reply) {
                let _ = ShmObject::remove(object.as_str());
            }
        }
    }
}

impl MessageSender for Link {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.pair.send_timeout(msg, timeout)
    }

    fn max_message_len(&self) -> usize {
        MessageSender::max_message_len(&self.pair)
    }

    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.pair.flush(timeout)
    }
}

impl MessageReceiver for Link {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let rx = &mut self.pair.rx;
        // Until the server joins the reply channel, nothing would wake this
        // client if the server went: sleep in slices and ask the request
        // channel (a `/proc` read per slice, only in this window).
        while rx.peers_joined() == 0 {
            if let Some(gone) = self.pair.tx.peer_gone() {
                return Err(gone);
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let slice = left.map_or(UNANSWERED_SLICE, |l| l.min(UNANSWERED_SLICE));
            match MessageReceiver::recv_timeout(rx, buf, Some(slice)) {
                Err(Error::TimedOut) if left.is_none_or(|l| l > slice) => {}
                other => return other,
            }
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        MessageReceiver::recv_timeout(rx, buf, left)
    }

    fn max_message_len(&self) -> usize {
        MessageReceiver::max_message_len(&self.pair)
    }
}

/// The reply channel's name for `client` of `service`.
fn reply_name(service: &str, client: u32) -> String {
    format!("{service}.reply-{client:08x}")
}

/// Connects to the service `name`: creates this client's reply channel of
/// `reply_capacity` bytes, opens the service's request channel and
/// announces the reply channel. [`Error::NotFound`] if no server created
/// `name`.
pub fn connect(name: &str, reply_capacity: u32) -> Result<ShmClient> {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let count = COUNT.fetch_add(1, Ordering::Relaxed) & 0x3FF;
    let client = std::process::id() | count << 22;
    let reply = reply_name(name, client);
    let rx = bytes::Receiver::create(&reply, reply_capacity)?;
    let tx = match mpsc_bytes::Sender::open(name) {
        Ok(tx) => tx,
        Err(e) => {
            let _ = ShmObject::remove(object_name(&reply)?.as_str());
            return Err(e);
        }
    };
    let mut hello = Vec::new();
    Header {
        kind: Kind::Hello,
        client,
        id: 0,
    }
    .encode(reply.as_bytes(), &mut hello);
    if let Err(e) = tx.send(&hello) {
        let _ = ShmObject::remove(object_name(&reply)?.as_str());
        return Err(e);
    }
    let link = Link {
        pair: Pair::new(tx, rx),
        reply,
    };
    Ok(Client::with_client_id(link, name, client))
}

/// The server of a shared-memory service (module docs): requests from
/// every client on one channel, each answer on the caller's reply channel.
#[derive(Debug)]
pub struct Server {
    requests: mpsc_bytes::Receiver,
    replies: HashMap<u32, bytes::Sender>,
    service: String,
    inbox: Vec<u8>,
    out: Vec<u8>,
    answers: u64,
    protocol_errors: u64,
}

/// How many answers between two sweeps for killed clients.
const SWEEP_EVERY: u64 = 4096;

impl Server {
    /// Creates the service `name` with a request channel of `capacity`
    /// bytes ([`Error::AlreadyExists`] if it exists).
    pub fn create(name: &str, capacity: u32) -> Result<Self> {
        let requests = mpsc_bytes::Receiver::create(name, capacity)?;
        let max = MessageReceiver::max_message_len(&requests);
        Ok(Self {
            requests,
            replies: HashMap::new(),
            service: name.to_owned(),
            inbox: vec![0; max.max(HEADER_LEN)],
            out: Vec::new(),
            answers: 0,
            protocol_errors: 0,
        })
    }

    /// Waits for the next request (handling hellos on the way).
    /// [`Error::PeerGone`] once every client is gone (a new one may come
    /// later); [`Error::Protocol`] for a message that breaks the protocol
    /// (consumed).
    pub fn recv_request(&mut self) -> Result<Request> {
        self.next_request(None)
    }

    /// [`recv_request`](Self::recv_request), waiting at most `timeout`.
    pub fn recv_request_timeout(&mut self, timeout: Duration) -> Result<Request> {
        self.next_request(Some(timeout))
    }

    /// Answers `request` with `payload` on its client's reply channel.
    /// [`Error::PeerGone`] if the client is gone (its reply channel is
    /// dropped), [`Error::Protocol`] for a client that never said hello.
    pub fn respond(&mut self, request: &Request, payload: &[u8]) -> Result<()> {
        answer::answer(self, Kind::Response, request, payload)
    }

    /// Answers `request` with a failure (`reason`, cut to fit).
    pub fn fail(&mut self, request: &Request, reason: &str) -> Result<()> {
        answer::fail(self, request, reason)
    }

    /// Answers every request with `handler` until every client is gone
    /// (then `Ok`; call again to serve the next ones). A gone client's
    /// answer is dropped, a message that breaks the protocol is skipped
    /// and counted ([`protocol_errors`](Self::protocol_errors)), a
    /// response too large to send becomes a failure.
    pub fn serve<F>(&mut self, handler: F) -> Result<()>
    where
        F: FnMut(&[u8]) -> std::result::Result<Vec<u8>, String>,
    {
        answer::serve(self, handler)
    }

    /// Messages skipped by [`serve`](Self::serve) that broke the protocol.
    pub fn protocol_errors(&self) -> u64 {
        self.protocol_errors
    }

    /// Drops the reply channels of clients that are gone, killed ones
    /// included (reads `/proc` for each: done at hellos and every
    /// [`SWEEP_EVERY`] answers).
    fn sweep(&mut self) {
        self.replies.retain(|_, tx| tx.peer_gone().is_none());
    }

    fn protocol(&self, reason: String) -> Error {
        Error::Protocol {
            peer: self.service.clone(),
            reason,
        }
    }

    /// The clients whose reply channels the server holds.
    pub fn clients(&self) -> usize {
        self.replies.len()
    }
}

impl answer::Ends for Server {
    const ONE_CLIENT: bool = false;

    fn next_request(&mut self, timeout: Option<Duration>) -> Result<Request> {
        loop {
            let n = MessageReceiver::recv_timeout(&mut self.requests, &mut self.inbox, timeout)?;
            let (header, payload) = Header::decode(&self.inbox[..n], &self.service)?;
            match header.kind {
                Kind::Request => {
                    return Ok(Request {
                        id: header.id,
                        client: header.client,
                        payload: payload.to_vec(),
                    });
                }
                Kind::Hello => {
                    let reply = reply_name(&self.service, header.client);
                    if payload != reply.as_bytes() {
                        return Err(self.protocol("a hello that names another channel".into()));
                    }
                    self.sweep();
                    let tx = bytes::Sender::open(&reply)
                        .map_err(|e| self.protocol(format!("reply channel {reply}: {e}")))?;
                    // Both ends are open: the kernel frees it when they go.
                    let _ = ShmObject::remove(object_name(&reply)?.as_str());
                    self.replies.insert(header.client, tx);
                }
                kind => return Err(self.protocol(format!("a client sent a {kind:?} message"))),
            }
        }
    }

    fn max_answer(&self, request: &Request) -> Result<usize> {
        match self.replies.get(&request.client) {
            Some(tx) => Ok(MessageSender::max_message_len(tx)),
            None => Err(self.protocol(format!("client {:#x} never said hello", request.client))),
        }
    }

    fn send_answer(&mut self, request: &Request, message: &[u8]) -> Result<()> {
        self.answers = self.answers.wrapping_add(1);
        if self.answers % SWEEP_EVERY == 0 {
            self.sweep();
        }
        let Some(tx) = self.replies.get_mut(&request.client) else {
            return Err(self.protocol(format!("client {:#x} is gone", request.client)));
        };
        // A client that dropped its end: from the shared state words, no
        // system call (a killed one is found by the sweeps).
        if let Some(gone) = tx.membership().peer_closed() {
            self.replies.remove(&request.client);
            return Err(gone);
        }
        let sent = tx.send(message);
        if sent.as_ref().is_err_and(Error::is_peer_gone) {
            self.replies.remove(&request.client);
        }
        sent
    }

    fn service(&self) -> &str {
        &self.service
    }

    fn scratch(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    fn protocol_error(&mut self) {
        self.protocol_errors += 1;
    }
}
