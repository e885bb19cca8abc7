//! The answering side of one link: requests in, a response or a failure
//! out for each.

use std::time::Duration;

use super::answer::{self, Ends as _};
use super::{HEADER_LEN, Header, Kind};
use crate::error::{Error, Result};
use crate::message::{MessageReceiver, MessageSender};

/// A request received by a [`Server`]: answer it with
/// [`Server::respond`] or [`Server::fail`] (or not at all: the client's
/// call then times out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The id the client chose; the answer repeats it.
    pub id: u64,
    /// The client's id on a shared request channel (0 on a connection).
    pub client: u32,
    /// What the client sent.
    pub payload: Vec<u8>,
}

/// The answering end of a request/response link to one client (see the
/// [module docs](super)): [`serve`](Self::serve) with a handler, or
/// [`recv_request`](Self::recv_request) and answer each request when it
/// suits, in any order.
///
/// ```
/// use std::time::Duration;
/// use ipckit::rpc::{Client, Server};
/// use ipckit::transport::unix::SeqPacket;
///
/// let (a, b) = SeqPacket::pair(256)?;
/// let mut client = Client::new(a, "later");
/// let first = client.request(b"first")?;
/// let second = client.request(b"second")?;
/// let mut server = Server::new(b, "later");
/// let (r1, r2) = (server.recv_request()?, server.recv_request()?);
/// server.respond(&r2, b"2")?; // answered out of order
/// server.fail(&r1, "not today")?;
/// assert_eq!(client.response(second, Duration::from_secs(5))?, b"2");
/// assert!(client.response(first, Duration::from_secs(5)).is_err());
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Debug)]
pub struct Server<L> {
    link: L,
    service: String,
    out: Vec<u8>,
    inbox: Vec<u8>,
    protocol_errors: u64,
}

impl<L: MessageSender + MessageReceiver> Server<L> {
    /// The server of `service` (its name, for errors) on `link`.
    pub fn new(link: L, service: &str) -> Self {
        Self {
            link,
            service: service.to_owned(),
            out: Vec::new(),
            inbox: Vec::new(),
            protocol_errors: 0,
        }
    }

    /// Waits for the next request. [`Error::PeerGone`] once the client is
    /// gone and its requests are received; [`Error::Protocol`] for a
    /// message that is not a request (consumed).
    pub fn recv_request(&mut self) -> Result<Request> {
        self.next_request(None)
    }

    /// [`recv_request`](Self::recv_request), waiting at most `timeout`
    /// ([`Error::TimedOut`]).
    pub fn recv_request_timeout(&mut self, timeout: Duration) -> Result<Request> {
        self.next_request(Some(timeout))
    }

    /// Answers `request` with `payload`. [`Error::MessageTooLarge`] if it
    /// does not fit a message (nothing sent: answer with a failure),
    /// [`Error::PeerGone`] if the client is gone.
    pub fn respond(&mut self, request: &Request, payload: &[u8]) -> Result<()> {
        answer::answer(self, Kind::Response, request, payload)
    }

    /// Answers `request` with a failure: the client's call returns
    /// [`Error::Failed`] with `reason` (cut to fit a message).
    pub fn fail(&mut self, request: &Request, reason: &str) -> Result<()> {
        answer::fail(self, request, reason)
    }

    /// Answers every request with `handler` (`Err(reason)`: a failure)
    /// until the client is gone, then returns `Ok`. A message that is not
    /// a request is skipped and counted
    /// ([`protocol_errors`](Self::protocol_errors)); a response too large
    /// to send becomes a failure.
    pub fn serve<F>(&mut self, handler: F) -> Result<()>
    where
        F: FnMut(&[u8]) -> std::result::Result<Vec<u8>, String>,
    {
        answer::serve(self, handler)
    }

    /// Messages skipped by [`serve`](Self::serve) that were not requests.
    pub fn protocol_errors(&self) -> u64 {
        self.protocol_errors
    }

    /// The link, to reach the transport (its credentials, its descriptor).
    pub fn link(&self) -> &L {
        &self.link
    }
}

impl<L: MessageSender + MessageReceiver> answer::Ends for Server<L> {
    const ONE_CLIENT: bool = true;

    fn next_request(&mut self, timeout: Option<Duration>) -> Result<Request> {
        if self.inbox.is_empty() {
            let max = MessageReceiver::max_message_len(&self.link);
            self.inbox.resize(max.max(HEADER_LEN), 0);
        }
        let n = self.link.recv_timeout(&mut self.inbox, timeout)?;
        let (header, payload) = Header::decode(&self.inbox[..n], &self.service)?;
        if header.kind != Kind::Request {
            return Err(Error::Protocol {
                peer: self.service.clone(),
                reason: format!("a client sent a {:?} message", header.kind),
            });
        }
        Ok(Request {
            id: header.id,
            client: header.client,
            payload: payload.to_vec(),
        })
    }

    fn max_answer(&self, _: &Request) -> Result<usize> {
        Ok(MessageSender::max_message_len(&self.link))
    }

    fn send_answer(&mut self, _: &Request, message: &[u8]) -> Result<()> {
        self.link.send(message)
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
