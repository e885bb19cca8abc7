//! The request/response protocol between threads: matching, ends, bad
//! input. Across processes: `tests/rpc_process.rs`.

use std::time::{Duration, Instant};

use super::*;
use crate::message::{MessageReceiver, MessageSender};
use crate::transport::unix::SeqPacket;

const LONG: Duration = Duration::from_secs(10);

fn raw(kind: u32, client: u32, id: u64, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&kind.to_le_bytes());
    m.extend_from_slice(&client.to_le_bytes());
    m.extend_from_slice(&id.to_le_bytes());
    m.extend_from_slice(payload);
    m
}

#[test]
fn the_header_is_the_documented_bytes() {
    let mut buf = Vec::new();
    Header {
        kind: Kind::Failure,
        client: 0x0102_0304,
        id: 0x1122_3344_5566_7788,
    }
    .encode(b"x", &mut buf);
    assert_eq!(buf, raw(3, 0x0102_0304, 0x1122_3344_5566_7788, b"x"));
    let (header, payload) = Header::decode(&buf, "t").unwrap();
    assert_eq!(
        (header.kind, header.client, header.id),
        (Kind::Failure, 0x0102_0304, 0x1122_3344_5566_7788)
    );
    assert_eq!(payload, b"x");
}

#[test]
fn responses_are_matched_to_their_requests_in_any_order() -> crate::Result<()> {
    let (a, b) = SeqPacket::pair(256)?;
    let mut client = Client::new(a, "t");
    let ids: Vec<RequestId> = (0u8..10)
        .map(|i| client.request(&[i]))
        .collect::<Result<_>>()?;
    assert_eq!(client.outstanding(), 10);
    let mut server = Server::new(b, "t");
    let mut requests: Vec<Request> = (0..10)
        .map(|_| server.recv_request())
        .collect::<Result<_>>()?;
    requests.reverse();
    for r in &requests {
        server.respond(r, &[r.payload[0] + 100])?;
    }
    // Collected in order of sending, received in reverse.
    for (i, id) in ids.into_iter().enumerate() {
        assert_eq!(client.response(id, LONG)?, [i as u8 + 100]);
    }
    assert_eq!((client.outstanding(), client.stray_responses()), (0, 0));
    Ok(())
}

#[test]
fn a_server_gone_fails_the_waiting_call_at_once() -> crate::Result<()> {
    let (a, b) = SeqPacket::pair(256)?;
    let mut client = Client::new(a, "t");
    let id = client.request(b"never answered")?;
    let dropper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        drop(b);
    });
    let start = Instant::now();
    assert!(client.response(id, LONG).unwrap_err().is_peer_gone());
    assert!(start.elapsed() < LONG / 2);
    dropper.join().unwrap();
    assert!(client.call(b"again", LONG).unwrap_err().is_peer_gone());
    Ok(())
}

#[test]
fn a_timed_out_call_is_abandoned_and_its_late_response_counted() -> crate::Result<()> {
    let (a, b) = SeqPacket::pair(256)?;
    let mut client = Client::new(a, "t");
    let mut server = Server::new(b, "t");
    let slow = client.request(b"slow")?;
    assert!(matches!(
        client.response(slow, Duration::from_millis(20)),
        Err(Error::TimedOut)
    ));
    assert_eq!(client.outstanding(), 0);
    let r = server.recv_request()?;
    server.respond(&r, b"late")?;
    server.respond(&r, b"twice")?;
    let next = client.request(b"next")?;
    let r = server.recv_request()?;
    server.respond(&r, b"ok")?;
    assert_eq!(client.response(next, LONG)?, b"ok");
    assert_eq!(client.stray_responses(), 2);
    Ok(())
}

#[test]
fn bad_messages_are_protocol_errors_and_the_link_stays_usable() -> crate::Result<()> {
    let (mut a, b) = SeqPacket::pair(256)?;
    let mut server = Server::new(b, "svc");
    a.send(b"short")?;
    a.send(&raw(9, 0, 1, b""))?;
    a.send(&raw(2, 0, 1, b"a response, to a server"))?;
    for _ in 0..3 {
        let e = server.recv_request().unwrap_err();
        assert!(
            matches!(&e, Error::Protocol { peer, .. } if peer == "svc"),
            "{e}"
        );
    }
    a.send(&raw(1, 0, 5, b"fine"))?;
    assert_eq!(server.recv_request()?.payload, b"fine");

    // A server that answers with garbage, then properly.
    let (c, mut d) = SeqPacket::pair(256)?;
    let mut client = Client::new(c, "svc");
    let id = client.request(b"q")?;
    d.send(b"tiny")?;
    let e = client.response(id, LONG).unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e}");
    let id = client.request(b"q")?;
    d.send(&raw(2, 0, id.get(), b"a"))?;
    assert_eq!(client.response(id, LONG)?, b"a");
    Ok(())
}

#[test]
fn a_handler_failure_reaches_the_caller_and_oversize_is_refused() -> crate::Result<()> {
    let (a, b) = SeqPacket::pair(64)?;
    let server = std::thread::spawn(move || {
        let mut server = Server::new(b, "t");
        server.serve(|req| match req {
            b"big" => Ok(vec![0; 100]), // more than a 64-byte message holds
            b"bad" => Err("refused".into()),
            other => Ok(other.to_vec()),
        })?;
        Ok::<_, Error>(server.protocol_errors())
    });
    let mut client = Client::new(a, "t");
    assert_eq!(client.call(b"echo", LONG)?, b"echo");
    let e = client.call(b"bad", LONG).unwrap_err();
    assert!(
        matches!(&e, Error::Failed { service, reason } if service == "t" && reason == "refused")
    );
    let e = client.call(b"big", LONG).unwrap_err();
    assert!(
        matches!(&e, Error::Failed { reason, .. } if reason.contains("exceeds")),
        "{e}"
    );
    let e = client.request(&[0; 49]).unwrap_err();
    assert!(matches!(e, Error::MessageTooLarge { max: 64, .. }), "{e}");
    drop(client);
    assert_eq!(server.join().unwrap()?, 0);
    Ok(())
}

#[test]
fn another_clients_request_id_is_refused_not_waited_for() -> crate::Result<()> {
    let (a, _b) = SeqPacket::pair(64)?;
    let (c, _d) = SeqPacket::pair(64)?;
    let mut one = Client::new(a, "one");
    let mut two = Client::new(c, "two");
    let _first = one.request(b"1")?;
    let id = one.request(b"2")?;
    assert!(matches!(
        two.response(id, LONG),
        Err(Error::Protocol { .. })
    ));
    Ok(())
}

#[test]
fn shm_service_serves_several_clients_and_forgets_gone_ones() -> crate::Result<()> {
    use crate::object::Remove;
    let name = format!("ipckit-test-rpc-{}", std::process::id());
    // Removed however the test ends.
    let _name = crate::channel::object_name(&name)?.remove_on_drop();
    let mut server = shm::Server::create(&name, 16 << 10)?;
    let mut one = shm::connect(&name, 4096)?;
    let mut two = shm::connect(&name, 4096)?;
    let a = one.request(b"one")?;
    let b = two.request(b"two")?;
    let (r1, r2) = (server.recv_request()?, server.recv_request()?);
    assert_eq!(server.clients(), 2);
    assert_ne!(r1.client, r2.client);
    server.respond(&r2, b"2")?;
    server.respond(&r1, b"1")?;
    assert_eq!(one.response(a, LONG)?, b"1");
    assert_eq!(two.response(b, LONG)?, b"2");
    // The reply channels' names are gone once both ends hold them.
    assert!(
        crate::channel::list()?
            .iter()
            .all(|c| !c.name.contains(&format!("{name}.reply-")))
    );
    let c = two.request(b"to a client about to go")?;
    let r = server.recv_request()?;
    drop((two, c));
    assert!(server.respond(&r, b"lost").unwrap_err().is_peer_gone());
    assert_eq!(server.clients(), 1);
    // A forged hello naming another channel is refused.
    let forger = mpsc_bytes_sender(&name)?;
    forger.send(&raw(4, 7, 0, b"ipckit-something-else"))?;
    assert!(matches!(server.recv_request(), Err(Error::Protocol { .. })));
    drop(server);
    assert!(one.call(b"anyone?", LONG).unwrap_err().is_peer_gone());
    Ok(())
}

#[test]
fn shm_server_gone_before_the_hello_fails_the_call() -> crate::Result<()> {
    use crate::object::Remove;
    let name = format!("ipckit-test-rpc-early-{}", std::process::id());
    let _name = crate::channel::object_name(&name)?.remove_on_drop();
    let server = shm::Server::create(&name, 16 << 10)?;
    let mut client = shm::connect(&name, 4096)?;
    let id = client.request(b"never read")?;
    // The server leaves without reading the hello: it never opened the
    // client's reply channel, so only the request channel can tell.
    drop(server);
    let started = std::time::Instant::now();
    let err = client.response(id, LONG).unwrap_err();
    assert!(err.is_peer_gone(), "{err:?}");
    assert!(started.elapsed() < LONG / 2, "{:?}", started.elapsed());
    // The reply channel's name, which no server removed, goes with the
    // client.
    drop(client);
    let prefix = format!("{name}.reply-");
    assert!(
        crate::channel::list()?
            .iter()
            .all(|c| !c.name.contains(&prefix))
    );
    Ok(())
}

fn mpsc_bytes_sender(name: &str) -> crate::Result<crate::channel::mpsc_bytes::Sender> {
    crate::channel::mpsc_bytes::Sender::open(name)
}

#[test]
fn the_pair_link_reports_each_halfs_limits() -> crate::Result<()> {
    let (tx, _r) = crate::transport::pipe::pipe_with_max(100)?;
    let (_s, rx) = crate::transport::pipe::pipe_with_max(200)?;
    let pair = Pair::new(tx, rx);
    assert_eq!(MessageSender::max_message_len(&pair), 100);
    assert_eq!(MessageReceiver::max_message_len(&pair), 200);
    Ok(())
}

/// A link whose inbound messages are canned (a peer's bytes) and whose
/// outbound ones are kept.
#[derive(Default)]
struct Canned {
    inbound: std::collections::VecDeque<Vec<u8>>,
    sent: Vec<Vec<u8>>,
}

impl MessageSender for Canned {
    fn send_timeout(&mut self, msg: &[u8], _: Option<Duration>) -> Result<()> {
        self.sent.push(msg.to_vec());
        Ok(())
    }

    fn max_message_len(&self) -> usize {
        256
    }
}

impl MessageReceiver for Canned {
    fn recv_timeout(&mut self, buf: &mut [u8], _: Option<Duration>) -> Result<usize> {
        let msg = self.inbound.pop_front().ok_or(Error::TimedOut)?;
        let n = msg.len().min(buf.len());
        buf[..n].copy_from_slice(&msg[..n]);
        Ok(n)
    }

    fn max_message_len(&self) -> usize {
        256
    }
}

use proptest::prelude::*;

proptest! {
    /// Whatever a peer sends (garbage, forged kinds and ids), the client
    /// and the server answer with a value and never panic; the client
    /// matches a response only to an outstanding id, and its bookkeeping
    /// stays exact.
    #[test]
    fn any_peer_bytes_get_an_answer_and_the_books_stay_exact(
        messages in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::collection::vec(proptest::num::u8::ANY, 0..40),
                (1u32..=5, 0u64..6, proptest::collection::vec(proptest::num::u8::ANY, 0..8))
                    .prop_map(|(kind, id, payload): (u32, u64, Vec<u8>)| raw(kind, 0, id, &payload)),
            ],
            0..24,
        ),
        requests in 1usize..5,
    ) {
        let mut link = Canned::default();
        link.inbound.extend(messages.iter().cloned());
        let mut client = Client::new(link, "fuzz");
        let ids: Vec<RequestId> = (0..requests).map(|_| client.request(b"q").unwrap()).collect();
        let mut collected = 0;
        for id in ids {
            match client.response(id, Duration::ZERO) {
                Ok(_) | Err(Error::Failed { .. }) => collected += 1,
                Err(Error::Protocol { .. } | Error::TimedOut) => {}
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
        // Every id was collected or abandoned: nothing is kept.
        prop_assert_eq!(client.outstanding(), 0);
        prop_assert!(collected <= requests);

        let mut link = Canned::default();
        link.inbound.extend(messages);
        let mut server = Server::new(link, "fuzz");
        loop {
            match server.recv_request() {
                Ok(r) => server.respond(&r, &r.payload).unwrap(),
                Err(Error::Protocol { .. }) => {}
                Err(Error::TimedOut) => break,
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}
