//! What [`Mech`]'s descriptions claim, checked on the mechanisms, both
//! sides opened in this process (no fork).

use super::*;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn naming() -> Naming {
    Naming::temp("ipckit-testkit-unit")
}

#[test]
fn ipckit_mechanisms_are_those_with_a_process_peer() {
    for m in Mech::every() {
        let process = matches!(
            m.setup(64, &naming()).map(|s| s.peer),
            Ok(PeerOpen::Process(_))
        );
        assert_eq!(m.is_ipckit(), process, "{}", m.name());
    }
}

#[test]
fn pads_says_which_mechanisms_pad_a_short_message() {
    // Not the fixed-size ones (a 3-byte message is refused), nor the FIFO
    // (opening it blocks until the other side opens: two threads).
    let mechs = Mech::every()
        .filter(|&m| m.fixed_size().is_none() && !matches!(m, Mech::Fifo | Mech::Memcpy));
    for m in mechs {
        let setup = m.setup(64, &naming()).unwrap();
        let pid = std::process::id();
        let mut peer = match setup.peer {
            PeerOpen::Process(open) => open(pid),
            PeerOpen::Thread(open) => open(),
        }
        .unwrap();
        let mut mine = (setup.mine)(pid).unwrap();
        mine.tx.send_timeout(b"abc", WAIT).unwrap();
        let mut buf = vec![0; peer.rx.max_message_len()];
        let n = peer.rx.recv_timeout(&mut buf, WAIT).unwrap();
        let expected = if m.pads() { 64 } else { 3 };
        assert_eq!(n, expected, "{}", m.name());
        assert_eq!(buf[..3], *b"abc", "{}", m.name());
    }
}

fn open_peer(open: PeerOpen) -> Ends {
    match open {
        PeerOpen::Process(open) => open(std::process::id()),
        PeerOpen::Thread(open) => open(),
    }
    .unwrap()
}

#[test]
fn a_topic_subscriber_opened_after_the_first_publication_receives_it() {
    let setup = Mech::ShmPubsub.setup(8, &naming()).unwrap();
    let mut mine = (setup.mine)(std::process::id()).unwrap();
    mine.tx.send_timeout(b"first", WAIT).unwrap();
    let mut peer = open_peer(setup.peer);
    let mut buf = [0u8; 8];
    assert_eq!(peer.rx.recv_timeout(&mut buf, WAIT).unwrap(), 8);
    assert_eq!(buf, *b"first\0\0\0");
    peer.tx.send_timeout(b"back", WAIT).unwrap();
    assert_eq!(mine.rx.recv_timeout(&mut buf, WAIT).unwrap(), 8);
    assert_eq!(buf[..4], *b"back");
}

#[test]
fn rpc_responses_come_in_call_order_and_need_a_call() {
    for m in [Mech::RpcShm, Mech::RpcUnix] {
        let setup = m.setup(64, &naming()).unwrap();
        let mut peer = open_peer(setup.peer);
        let mut mine = (setup.mine)(std::process::id()).unwrap();
        assert!(mine.tx.max_message_len() >= 64, "{}", m.name());
        mine.tx.send_timeout(b"one", WAIT).unwrap();
        mine.tx.send_timeout(b"two", WAIT).unwrap();
        let mut buf = [0u8; 64];
        for want in [&b"one"[..], b"two"] {
            let n = peer.rx.recv_timeout(&mut buf, WAIT).unwrap();
            assert_eq!(&buf[..n], want, "{}", m.name());
        }
        peer.tx.send_timeout(b"ONE", WAIT).unwrap();
        peer.tx.send_timeout(b"TWO!", WAIT).unwrap();
        for want in [&b"ONE"[..], b"TWO!"] {
            let n = mine.rx.recv_timeout(&mut buf, WAIT).unwrap();
            assert_eq!(&buf[..n], want, "{}", m.name());
        }
        let protocol =
            |r: ipckit::error::Result<()>| matches!(r, Err(ipckit::error::Error::Protocol { .. }));
        let got = mine.rx.recv_timeout(&mut buf, WAIT).map(drop);
        assert!(protocol(got), "{}: a receive with no call", m.name());
        let got = peer.tx.send_timeout(b"x", WAIT);
        assert!(protocol(got), "{}: an answer with no request", m.name());
    }
}
