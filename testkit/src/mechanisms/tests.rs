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
