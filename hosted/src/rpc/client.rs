//! The calling side: requests out, responses matched to them by id.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{HEADER_LEN, Header, Kind};
use crate::error::{Error, Result};
use crate::message::{MessageReceiver, MessageSender};

/// The most requests a client may have outstanding: a bound on what it
/// keeps for responses that have not been collected.
pub const MAX_OUTSTANDING: usize = 4096;

/// A request sent and not yet answered: redeem it with
/// [`Client::response`]. Not `Clone`: each response is collected once.
#[derive(Debug, PartialEq, Eq, Hash)]
#[must_use = "the response is kept until it is collected with `Client::response`"]
pub struct RequestId(u64);

impl RequestId {
    /// The id on the wire.
    pub fn get(&self) -> u64 {
        self.0
    }
}

/// What came back for a request.
#[derive(Debug)]
enum Answer {
    Response(Vec<u8>),
    Failure(String),
}

/// The calling end of a request/response link (see the [module
/// docs](super)): [`call`](Self::call) for one request at a time, or
/// [`request`](Self::request) several and collect each
/// [`response`](Self::response) in any order.
///
/// ```
/// use std::time::Duration;
/// use ipckit::Error;
/// use ipckit::rpc::{Client, Server};
/// use ipckit::transport::unix::stream_pair;
///
/// let (a, b) = stream_pair(4096)?;
/// std::thread::spawn(move || {
///     Server::new(b, "parser").serve(|req| {
///         let text = std::str::from_utf8(req).map_err(|e| e.to_string())?;
///         let n: u64 = text.parse().map_err(|_| format!("not a number: {text}"))?;
///         Ok(n.to_le_bytes().to_vec())
///     })
/// });
/// let mut client = Client::new(a, "parser");
/// let timeout = Duration::from_secs(5);
/// assert_eq!(client.call(b"42", timeout)?, 42u64.to_le_bytes());
/// let failed = client.call(b"x", timeout).unwrap_err();
/// assert!(matches!(failed, Error::Failed { reason, .. } if reason == "not a number: x"));
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Debug)]
pub struct Client<L> {
    link: L,
    service: String,
    /// This client's id on a shared request channel (0 on a connection).
    client: u32,
    next_id: u64,
    /// The outstanding requests, and the answer of those answered.
    pending: HashMap<u64, Option<Answer>>,
    stray: u64,
    out: Vec<u8>,
    inbox: Vec<u8>,
}

impl<L: MessageSender + MessageReceiver> Client<L> {
    /// A client calling `service` (its name, for errors) over `link`.
    pub fn new(link: L, service: &str) -> Self {
        Self::with_client_id(link, service, 0)
    }

    /// A client whose requests carry `client` (a shared request channel).
    pub(crate) fn with_client_id(link: L, service: &str, client: u32) -> Self {
        Self {
            link,
            service: service.to_owned(),
            client,
            next_id: 1,
            pending: HashMap::new(),
            stray: 0,
            out: Vec::new(),
            inbox: Vec::new(),
        }
    }

    /// Sends a request, waiting while the transport is full, and returns
    /// its id without waiting for the response. [`Error::Full`] if
    /// [`MAX_OUTSTANDING`] requests are outstanding,
    /// [`Error::MessageTooLarge`] if the request does not fit a message,
    /// [`Error::PeerGone`] if the server is gone.
    pub fn request(&mut self, payload: &[u8]) -> Result<RequestId> {
        self.send_request(payload, None)
    }

    fn send_request(&mut self, payload: &[u8], timeout: Option<Duration>) -> Result<RequestId> {
        if self.pending.len() >= MAX_OUTSTANDING {
            return Err(Error::Full);
        }
        let max = MessageSender::max_message_len(&self.link);
        if payload.len() > max.saturating_sub(HEADER_LEN) {
            return Err(Error::MessageTooLarge {
                channel: self.service.clone(),
                max: u32::try_from(max).unwrap_or(u32::MAX),
            });
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let header = Header {
            kind: Kind::Request,
            client: self.client,
            id,
        };
        header.encode(payload, &mut self.out);
        self.link.send_timeout(&self.out, timeout)?;
        self.pending.insert(id, None);
        Ok(RequestId(id))
    }

    /// Waits at most `timeout` for the response to `id`. A call that times
    /// out is abandoned: its response, if it comes later, is dropped
    /// (counted in [`stray_responses`](Self::stray_responses)).
    /// [`Error::Failed`] carries the server's failure, [`Error::PeerGone`]
    /// says the server is gone.
    pub fn response(&mut self, id: RequestId, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now().checked_add(timeout);
        let answer = self.wait_for(id.0, deadline);
        if answer.is_err() {
            self.pending.remove(&id.0);
        }
        match answer? {
            Answer::Response(payload) => Ok(payload),
            Answer::Failure(reason) => Err(Error::Failed {
                service: self.service.clone(),
                reason,
            }),
        }
    }

    /// [`request`](Self::request) then [`response`](Self::response), both
    /// within `timeout`.
    pub fn call(&mut self, payload: &[u8], timeout: Duration) -> Result<Vec<u8>> {
        let start = Instant::now();
        let id = self.send_request(payload, Some(timeout))?;
        self.response(id, timeout.saturating_sub(start.elapsed()))
    }

    /// The requests sent and not yet collected.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// Responses received for no outstanding request (answered twice,
    /// after the caller gave up, or made up by the server).
    pub fn stray_responses(&self) -> u64 {
        self.stray
    }

    /// The link, to reach the transport (its credentials, its descriptor).
    pub fn link(&self) -> &L {
        &self.link
    }

    /// Receives until the answer to `id` is in; the answers to other
    /// outstanding requests received meanwhile are kept for them.
    fn wait_for(&mut self, id: u64, deadline: Option<Instant>) -> Result<Answer> {
        loop {
            match self.pending.get_mut(&id) {
                Some(answer @ Some(_)) => {
                    let answer = answer.take().expect("matched Some");
                    self.pending.remove(&id);
                    return Ok(answer);
                }
                Some(None) => {}
                // Another client's id: this one never sent it.
                None => {
                    return Err(Error::Protocol {
                        peer: self.service.clone(),
                        reason: format!("request {id} is not outstanding on this client"),
                    });
                }
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if self.inbox.is_empty() {
                let max = MessageReceiver::max_message_len(&self.link);
                self.inbox.resize(max.max(HEADER_LEN), 0);
            }
            let n = self.link.recv_timeout(&mut self.inbox, left)?;
            let (header, payload) = Header::decode(&self.inbox[..n], &self.service)?;
            let answer = match header.kind {
                Kind::Response => Answer::Response(payload.to_vec()),
                Kind::Failure => Answer::Failure(String::from_utf8_lossy(payload).into_owned()),
                Kind::Request | Kind::Hello => {
                    return Err(Error::Protocol {
                        peer: self.service.clone(),
                        reason: format!("the server sent a {:?} message", header.kind),
                    });
                }
            };
            match self.pending.get_mut(&header.id) {
                Some(slot @ None) => *slot = Some(answer),
                _ => self.stray += 1,
            }
        }
    }
}
