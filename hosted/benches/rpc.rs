//! Request/response round trips per transport, same run, interleaved: a
//! 64-byte call answered by a server thread on the other CPU, over the
//! shared-memory service, a seqpacket pair, a Unix stream pair and TCP on
//! loopback; and, for scale, the bare byte-channel ping-pong that the
//! shared-memory service is built on (two SPSC byte channels, no header,
//! no matching). Blocking calls on both sides.
//!
//! `cargo bench -p ipckit --bench rpc` (`IPCKIT_RPC_ROUNDS`, default 15;
//! `IPCKIT_RPC_CALLS` per round, default 20,000).

use std::time::{Duration, Instant};

use ipckit::channel::{self, bytes};
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::rpc::{Client, Server, shm};
use ipckit::transport::tcp;
use ipckit::transport::unix::{SeqPacket, stream_pair};
use ipckit_testkit::bench::{Ratio, Unit, interleave};
use ipckit_testkit::pin::{allowed_cpus, pin_to};

const LEN: usize = 64;
const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    BytesPingPong,
    RpcShm,
    RpcSeqpacket,
    RpcUnixStream,
    RpcTcp,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::BytesPingPong => "byte channel ping-pong",
            Variant::RpcShm => "rpc, shared memory",
            Variant::RpcSeqpacket => "rpc, seqpacket",
            Variant::RpcUnixStream => "rpc, Unix stream",
            Variant::RpcTcp => "rpc, TCP loopback",
        }
    }
}

fn env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `serve` on a thread pinned to `cpu`.
fn on_cpu(cpu: usize, serve: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        let _ = pin_to(cpu);
        serve();
    });
}

/// A client of any transport, measured the same way.
trait Caller {
    fn round_trip(&mut self, msg: &[u8]);
}

impl<L: MessageSender + MessageReceiver> Caller for Client<L> {
    fn round_trip(&mut self, msg: &[u8]) {
        let answer = self.call(msg, PATIENCE).expect("call");
        assert_eq!(answer.len(), msg.len());
    }
}

/// The ping-pong: send on one byte channel, receive the echo on another.
struct PingPong {
    tx: bytes::Sender,
    rx: bytes::Receiver,
    buf: Vec<u8>,
}

impl Caller for PingPong {
    fn round_trip(&mut self, msg: &[u8]) {
        self.tx.send(msg).expect("send");
        assert_eq!(self.rx.recv(&mut self.buf).expect("recv"), msg.len());
    }
}

fn echo(req: &[u8]) -> Result<Vec<u8>, String> {
    Ok(req.to_vec())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cpus = allowed_cpus()?;
    let (here, there) = (cpus[0], *cpus.get(1).unwrap_or(&cpus[0]));
    pin_to(here)?;
    let name = format!("bench-rpc-{}", std::process::id());
    let mut shm_server = shm::Server::create(&name, 64 << 10)?;
    let mut rpc_shm = shm::connect(&name, 16 << 10)?;
    on_cpu(there, move || drop(shm_server.serve(echo)));
    ipckit::shm::ShmObject::remove(channel::object_name(&name)?.as_str())?;

    let (a, b) = SeqPacket::pair(4096)?;
    on_cpu(there, move || drop(Server::new(b, "seqpacket").serve(echo)));
    let mut rpc_seqpacket = Client::new(a, "seqpacket");
    let (a, b) = stream_pair(4096)?;
    on_cpu(there, move || drop(Server::new(b, "stream").serve(echo)));
    let mut rpc_stream = Client::new(a, "stream");
    let listener = tcp::TcpListener::bind("127.0.0.1:0", 4096)?;
    let addr = listener.local_addr()?;
    let mut rpc_tcp = Client::new(tcp::connect(addr, 4096, Some(PATIENCE))?, "tcp");
    let link = listener.accept(Some(PATIENCE))?;
    on_cpu(there, move || drop(Server::new(link, "tcp").serve(echo)));

    let (tx, mut echo_rx) = channel::bytes().max_message(LEN).messages(4).pair()?;
    let (mut echo_tx, rx) = channel::bytes().max_message(LEN).messages(4).pair()?;
    on_cpu(there, move || {
        let mut buf = vec![0; LEN];
        while let Ok(n) = echo_rx.recv(&mut buf) {
            if echo_tx.send(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut ping_pong = PingPong {
        tx,
        rx,
        buf: vec![0; LEN],
    };

    let (rounds, calls) = (
        env("IPCKIT_RPC_ROUNDS", 15),
        env("IPCKIT_RPC_CALLS", 20_000),
    );
    let msg = [0x5A; LEN];
    let variants = [
        Variant::BytesPingPong,
        Variant::RpcShm,
        Variant::RpcSeqpacket,
        Variant::RpcUnixStream,
        Variant::RpcTcp,
    ];
    let results = interleave(&variants, rounds, |v| {
        let caller: &mut dyn Caller = match v {
            Variant::BytesPingPong => &mut ping_pong,
            Variant::RpcShm => &mut rpc_shm,
            Variant::RpcSeqpacket => &mut rpc_seqpacket,
            Variant::RpcUnixStream => &mut rpc_stream,
            Variant::RpcTcp => &mut rpc_tcp,
        };
        let start = Instant::now();
        for _ in 0..calls {
            caller.round_trip(&msg);
        }
        Ok::<_, String>(start.elapsed().as_nanos() as f64 / calls as f64)
    })?;
    results.print(
        &format!("{LEN}-byte round trip, caller on CPU {here}, server on CPU {there}"),
        Variant::name,
        Unit::Nanos,
        &[
            Ratio::new(
                "rpc shm / byte ping-pong",
                Variant::RpcShm,
                Variant::BytesPingPong,
            ),
            Ratio::new(
                "rpc shm / rpc seqpacket",
                Variant::RpcShm,
                Variant::RpcSeqpacket,
            ),
            Ratio::new(
                "rpc shm / rpc Unix stream",
                Variant::RpcShm,
                Variant::RpcUnixStream,
            ),
            Ratio::new("rpc shm / rpc TCP", Variant::RpcShm, Variant::RpcTcp),
        ],
    );
    Ok(())
}
