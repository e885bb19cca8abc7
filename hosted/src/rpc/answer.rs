//! What every server end does alike, whatever carries its requests and
//! answers ([`Server`](super::Server) on one link, the shared-memory
//! [`shm::Server`](super::shm::Server) with a reply channel per client):
//! refusing an answer too large for a message, cutting a failure's reason
//! to fit, and the serve loop.

use std::time::Duration;

use super::{HEADER_LEN, Header, Kind, Request};
use crate::error::{Error, Result};

/// The transport side of a server end.
pub(crate) trait Ends {
    /// `true` for a server of one client, whose `serve` ends when that
    /// client is gone; `false` for a shared service, whose `serve` goes on
    /// past a gone client's answer.
    const ONE_CLIENT: bool;

    /// The next request (anything else the transport needs, such as a
    /// hello, handled inside).
    fn next_request(&mut self, timeout: Option<Duration>) -> Result<Request>;

    /// The longest message, header included, that reaches `request`'s
    /// client.
    fn max_answer(&self, request: &Request) -> Result<usize>;

    /// Sends the encoded answer `message` to `request`'s client.
    fn send_answer(&mut self, request: &Request, message: &[u8]) -> Result<()>;

    /// The service, for errors.
    fn service(&self) -> &str;

    /// The scratch buffer answers are encoded into.
    fn scratch(&mut self) -> &mut Vec<u8>;

    /// Counts a message that broke the protocol.
    fn protocol_error(&mut self);
}

/// Answers `request` with a message of `kind` carrying `payload`:
/// [`Error::MessageTooLarge`] (nothing sent) if it does not fit.
pub(crate) fn answer<E: Ends>(
    ends: &mut E,
    kind: Kind,
    request: &Request,
    payload: &[u8],
) -> Result<()> {
    let max = ends.max_answer(request)?;
    if payload.len() > max.saturating_sub(HEADER_LEN) {
        return Err(Error::MessageTooLarge {
            channel: ends.service().to_owned(),
            max: u32::try_from(max).unwrap_or(u32::MAX),
        });
    }
    let mut message = std::mem::take(ends.scratch());
    Header {
        kind,
        client: request.client,
        id: request.id,
    }
    .encode(payload, &mut message);
    let sent = ends.send_answer(request, &message);
    *ends.scratch() = message;
    sent
}

/// Answers `request` with a failure whose reason is `reason`, cut (at a
/// character boundary) to fit a message.
pub(crate) fn fail<E: Ends>(ends: &mut E, request: &Request, reason: &str) -> Result<()> {
    let room = ends.max_answer(request)?.saturating_sub(HEADER_LEN);
    let mut end = reason.len().min(room);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    answer(ends, Kind::Failure, request, &reason.as_bytes()[..end])
}

/// Answers every request with `handler` (`Err(reason)`: a failure) until
/// the clients are gone, then returns `Ok`. A message that breaks the
/// protocol is skipped and counted ([`Ends::protocol_error`]); a response too
/// large to send becomes a failure; a gone client ends a one-client
/// server, and is passed over by a shared one.
pub(crate) fn serve<E, F>(ends: &mut E, mut handler: F) -> Result<()>
where
    E: Ends,
    F: FnMut(&[u8]) -> std::result::Result<Vec<u8>, String>,
{
    loop {
        let request = match ends.next_request(None) {
            Ok(request) => request,
            Err(Error::Protocol { .. }) => {
                ends.protocol_error();
                continue;
            }
            Err(e) if e.is_peer_gone() => return Ok(()),
            Err(e) => return Err(e),
        };
        let sent = match handler(&request.payload) {
            Ok(response) => match answer(ends, Kind::Response, &request, &response) {
                Err(Error::MessageTooLarge { max, .. }) => {
                    let reason = format!("the response ({} bytes) exceeds {max}", response.len());
                    fail(ends, &request, &reason)
                }
                other => other,
            },
            Err(reason) => fail(ends, &request, &reason),
        };
        match sent {
            Ok(()) => {}
            Err(e) if e.is_peer_gone() && E::ONE_CLIENT => return Ok(()),
            Err(e) if e.is_peer_gone() => {}
            // A request of a client that never said hello (shared service).
            Err(Error::Protocol { .. }) => ends.protocol_error(),
            Err(e) => return Err(e),
        }
    }
}
