//! Request/response through the message interface: a call is a send (the
//! request) then a receive (its response), so the ping-pong and every
//! other user of [`Ends`] time a call's round trip unchanged: the client
//! in this process, the server (echoing) in the peer.
//!
//! A client and a server each do both directions on one object:
//! [`Ends::duplex`] shares it between an [`Ends`]' two halves. The setups:
//! `rpc-shm`, the shared-memory service by name ([`rpc::shm`]: the server
//! creates it in the peer, the client connects once it is there), and
//! `rpc-unix`, a [`Client`](rpc::Client) and [`Server`](rpc::Server) on a
//! Unix stream socket pair.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ipckit::error::{CoreError, Error, Result};
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::rpc::{self, HEADER_LEN, Request, RequestId};
use ipckit::transport::unix::stream_pair;

use super::open::{ShmGuard, e2s, frame_max, process_setup};
use super::{Ends, Naming, Object, Setup};

/// The least time a [`Caller`] waits for a response, whatever the timeout
/// asked: [`rpc::Client::response`] abandons a call that times out (its
/// response, when it comes, is dropped as stray), so a call cannot be
/// waited for in short slices. A dead server ends the wait at once
/// ([`Error::PeerGone`]: the client watches it).
pub const CALL_PATIENCE: Duration = Duration::from_secs(10);

/// A client as a sender and a receiver: a send makes a request, a receive
/// collects the response to the oldest request outstanding (waiting at
/// least [`CALL_PATIENCE`]).
pub struct Caller<L: MessageSender + MessageReceiver> {
    client: rpc::Client<L>,
    outstanding: VecDeque<RequestId>,
    service: String,
}

impl<L: MessageSender + MessageReceiver> Caller<L> {
    /// Calls through `client`, a client of `service` (for errors).
    pub fn new(client: rpc::Client<L>, service: &str) -> Self {
        Self {
            client,
            outstanding: VecDeque::new(),
            service: service.to_owned(),
        }
    }
}

fn nothing_to_answer(service: &str, what: &str) -> Error {
    Error::Protocol {
        peer: service.to_owned(),
        reason: format!("a {what} with no request outstanding"),
    }
}

fn copy_out(buf: &mut [u8], payload: &[u8]) -> Result<usize> {
    let Some(dst) = buf.get_mut(..payload.len()) else {
        return Err(CoreError::BufferTooSmall {
            required: payload.len(),
        }
        .into());
    };
    dst.copy_from_slice(payload);
    Ok(payload.len())
}

impl<L: MessageSender + MessageReceiver> MessageSender for Caller<L> {
    /// Waits while the transport is full, whatever the timeout
    /// ([`rpc::Client::request`] has none).
    fn send_timeout(&mut self, msg: &[u8], _: Option<Duration>) -> Result<()> {
        let id = self.client.request(msg)?;
        self.outstanding.push_back(id);
        Ok(())
    }
    fn max_message_len(&self) -> usize {
        MessageSender::max_message_len(self.client.link()).saturating_sub(HEADER_LEN)
    }
}

impl<L: MessageSender + MessageReceiver> MessageReceiver for Caller<L> {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let Some(id) = self.outstanding.pop_front() else {
            return Err(nothing_to_answer(&self.service, "receive"));
        };
        let wait = timeout.unwrap_or(Duration::MAX).max(CALL_PATIENCE);
        copy_out(buf, &self.client.response(id, wait)?)
    }
    fn max_message_len(&self) -> usize {
        MessageReceiver::max_message_len(self.client.link()).saturating_sub(HEADER_LEN)
    }
}

/// What an [`Answerer`] needs of a server: the calls of [`rpc::Server`]
/// and [`rpc::shm::Server`], which share no trait in the library.
pub trait Answers {
    /// Waits at most `timeout` (`None`: for ever) for the next request.
    fn next_request(&mut self, timeout: Option<Duration>) -> Result<Request>;
    /// Answers `request` with `payload`.
    fn respond(&mut self, request: &Request, payload: &[u8]) -> Result<()>;
}

impl<L: MessageSender + MessageReceiver> Answers for rpc::Server<L> {
    fn next_request(&mut self, timeout: Option<Duration>) -> Result<Request> {
        match timeout {
            Some(t) => self.recv_request_timeout(t),
            None => self.recv_request(),
        }
    }
    fn respond(&mut self, request: &Request, payload: &[u8]) -> Result<()> {
        rpc::Server::respond(self, request, payload)
    }
}

impl Answers for rpc::shm::Server {
    fn next_request(&mut self, timeout: Option<Duration>) -> Result<Request> {
        match timeout {
            Some(t) => self.recv_request_timeout(t),
            None => self.recv_request(),
        }
    }
    fn respond(&mut self, request: &Request, payload: &[u8]) -> Result<()> {
        rpc::shm::Server::respond(self, request, payload)
    }
}

/// A server as a receiver and a sender: a receive takes the next request
/// (its payload is the message), a send answers the oldest request not
/// yet answered.
pub struct Answerer<S> {
    server: S,
    pending: VecDeque<Request>,
    max: usize,
    service: String,
}

impl<S: Answers> Answerer<S> {
    /// Answers through `server` of `service`; `max` is the longest payload
    /// the setup made it for (a shared-memory server does not tell its
    /// channels' limits).
    pub fn new(server: S, service: &str, max: usize) -> Self {
        Self {
            server,
            pending: VecDeque::new(),
            max,
            service: service.to_owned(),
        }
    }
}

impl<S: Answers> MessageReceiver for Answerer<S> {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let request = self.server.next_request(timeout)?;
        let n = copy_out(buf, &request.payload)?;
        self.pending.push_back(request);
        Ok(n)
    }
    fn max_message_len(&self) -> usize {
        self.max
    }
}

impl<S: Answers> MessageSender for Answerer<S> {
    fn send_timeout(&mut self, msg: &[u8], _: Option<Duration>) -> Result<()> {
        let Some(request) = self.pending.pop_front() else {
            return Err(nothing_to_answer(&self.service, "response"));
        };
        self.server.respond(&request, msg)
    }
    fn max_message_len(&self) -> usize {
        self.max
    }
}

/// One two-way object shared by an [`Ends`]' sender and receiver halves
/// (one thread uses both, one call at a time).
pub(super) struct Shared<L>(pub(super) Rc<RefCell<L>>);

impl<L: MessageSender> MessageSender for Shared<L> {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.0.borrow_mut().send_timeout(msg, timeout)
    }
    fn max_message_len(&self) -> usize {
        self.0.borrow().max_message_len()
    }
    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.0.borrow_mut().flush(timeout)
    }
}

impl<L: MessageReceiver> MessageReceiver for Shared<L> {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.0.borrow_mut().recv_timeout(buf, timeout)
    }
    fn max_message_len(&self) -> usize {
        self.0.borrow().max_message_len()
    }
}

/// Bytes of a channel carrying `size`-byte payloads: room for several
/// frames of the largest.
fn capacity(size: usize) -> u32 {
    if size <= 1024 { 64 << 10 } else { 1 << 20 }
}

/// `rpc-shm`: the peer creates the service `name` and serves it; this
/// process connects once it is there.
pub(super) fn shm(name: &str, size: usize, naming: &Naming) -> std::result::Result<Setup, String> {
    (naming.register)(Object::Shm(name));
    let (ours, theirs) = (name.to_owned(), name.to_owned());
    let cap = capacity(size);
    let peer = move |_| -> Result<Ends> {
        let server = rpc::shm::Server::create(&theirs, cap)?;
        Ok(Ends::duplex(Answerer::new(server, &theirs, size)))
    };
    let mine = move |_| -> Result<Ends> {
        let client = connect_when_there(&ours, cap)?;
        Ok(Ends::duplex(Caller::new(client, &ours)))
    };
    // The reply channels' names are removed by the server (on the
    // client's hello) or by the client (when the server never read it).
    Ok(process_setup(mine, peer, ShmGuard(vec![name.into()])))
}

/// Connects to `name`, retrying while the peer has not created it yet (at
/// most [`CALL_PATIENCE`]).
fn connect_when_there(name: &str, reply_capacity: u32) -> Result<rpc::shm::ShmClient> {
    let deadline = Instant::now() + CALL_PATIENCE;
    loop {
        match rpc::shm::connect(name, reply_capacity) {
            Err(Error::NotFound(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(200));
            }
            other => return other,
        }
    }
}

/// `rpc-unix`: a client and a server on a Unix stream socket pair.
pub(super) fn unix(size: usize) -> std::result::Result<Setup, String> {
    let max = frame_max(size + HEADER_LEN);
    let (a, b) = stream_pair(max).map_err(e2s)?;
    const SERVICE: &str = "rpc-unix";
    Ok(process_setup(
        move |_| {
            Ok(Ends::duplex(Caller::new(
                rpc::Client::new(a, SERVICE),
                SERVICE,
            )))
        },
        move |_| {
            let server = rpc::Server::new(b, SERVICE);
            Ok(Ends::duplex(Answerer::new(server, SERVICE, size)))
        },
        (),
    ))
}
