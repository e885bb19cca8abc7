//! Request/response across real processes: 4 client processes each making
//! `IPCKIT_RPC_CALLS` calls (default 100,000) to one server, over shared
//! memory and over a Unix stream socket, every response checked against
//! its request; a server killed while a call waits (the caller gets
//! `PeerGone`, not a hang); a client killed mid-call (the server goes on
//! and drops what it held for it).
//!
//! Built with `harness = false`: children are forked from a
//! single-threaded process; the parent's server threads start after the
//! forks.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipckit::Error;
use ipckit::rpc::{Client, Server, shm};
use ipckit::transport::unix::{self, UnixAddr, UnixStreamListener};
use support::{
    Child, EXIT_BAD_VALUE, EXIT_CHECK, EXIT_RING_ERROR, SharedWords, ShmGuard, Suite, fork_child,
    unique_name,
};

const CLIENTS: usize = 4;
const PATIENCE: Duration = Duration::from_secs(120);
/// How soon a waiting call must see its server's death (a test bound for a
/// loaded 2-core machine, not a benchmark).
const DEATH_BOUND: Duration = Duration::from_millis(500);

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn calls() -> u64 {
    std::env::var("IPCKIT_RPC_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// The request of call `i` of client `c`: varying lengths, content that
/// names both.
fn request(c: u64, i: u64) -> Vec<u8> {
    let len = 8 + (i % 57) as usize;
    let mut r = vec![0u8; len];
    r[..8].copy_from_slice(&(c << 48 | i).to_le_bytes());
    for (j, b) in r.iter_mut().enumerate().skip(8) {
        *b = (i as u8).wrapping_mul(31) ^ j as u8;
    }
    r
}

/// The server's answer: every byte complemented, reversed.
fn answer(req: &[u8]) -> Result<Vec<u8>, String> {
    Ok(req.iter().rev().map(|b| !b).collect())
}

/// A client's work: `calls()` calls, each response checked. Exit codes:
/// 0, `EXIT_BAD_VALUE` (a wrong response), `EXIT_RING_ERROR` (a call
/// failed).
fn client_calls<L>(client: &mut Client<L>, c: u64) -> i32
where
    L: ipckit::message::MessageSender + ipckit::message::MessageReceiver,
{
    for i in 0..calls() {
        let req = request(c, i);
        match client.call(&req, PATIENCE) {
            Ok(resp) if resp == answer(&req).unwrap() => {}
            Ok(_) => return EXIT_BAD_VALUE,
            Err(e) => {
                eprintln!("  client {c}: call {i}: {e}");
                return EXIT_RING_ERROR;
            }
        }
    }
    0
}

/// Forks `CLIENTS` children that each wait for word 0 of `go`, then run
/// `body(c)`.
fn fork_clients(go: &SharedWords, body: impl Fn(u64) -> i32) -> Result<Vec<Child>, String> {
    (0..CLIENTS as u64)
        .map(|c| {
            fork_child(|| {
                if !go.wait_for(0, 1, PATIENCE) {
                    return EXIT_CHECK;
                }
                body(c)
            })
        })
        .collect()
}

fn expect_all_ok(children: &mut [Child]) -> Result<(), String> {
    for child in children {
        child.expect_ok(Instant::now() + PATIENCE)?;
    }
    Ok(())
}

fn shm_many_clients() -> Result<String, String> {
    let g = ShmGuard::new("rpc-shm");
    let mut server = shm::Server::create(&g.0, 64 << 10).map_err(|e| e.to_string())?;
    let go = SharedWords::new();
    let name = g.0.clone();
    let mut children = fork_clients(&go, |c| match shm::connect(&name, 16 << 10) {
        Ok(mut client) => client_calls(&mut client, c),
        Err(e) => {
            eprintln!("  client {c}: connect: {e}");
            EXIT_RING_ERROR
        }
    })?;
    let start = Instant::now();
    go.word(0).store(1, Ordering::Release);
    // `serve` returns when every client that came has gone; one may not
    // have come yet.
    while children
        .iter_mut()
        .any(|c| matches!(c.try_wait(), Ok(None)))
    {
        server.serve(answer).map_err(|e| format!("serve: {e}"))?;
    }
    let took = start.elapsed();
    expect_all_ok(&mut children)?;
    let n = CLIENTS as u64 * calls();
    Ok(format!(
        "{CLIENTS} client processes x {} calls over shared memory, all matched: {:.1} µs per call",
        calls(),
        took.as_secs_f64() * 1e6 / n as f64
    ))
}

fn unix_many_clients() -> Result<String, String> {
    let addr = UnixAddr::abstract_name(unique_name("rpc-unix"));
    let listener = UnixStreamListener::bind(&addr, 4096).map_err(|e| e.to_string())?;
    let go = SharedWords::new();
    let mut children = fork_clients(&go, |c| match unix::connect_stream(&addr, 4096) {
        Ok(link) => client_calls(&mut Client::new(link, "rpc-unix"), c),
        Err(e) => {
            eprintln!("  client {c}: connect: {e}");
            EXIT_RING_ERROR
        }
    })?;
    let start = Instant::now();
    go.word(0).store(1, Ordering::Release);
    // One server thread per connection (threads only after the forks).
    std::thread::scope(|s| -> Result<(), String> {
        let mut servers = Vec::new();
        for _ in 0..CLIENTS {
            let link = listener.accept(Some(PATIENCE)).map_err(|e| e.to_string())?;
            servers.push(s.spawn(move || Server::new(link, "rpc-unix").serve(answer)));
        }
        for server in servers {
            server.join().unwrap().map_err(|e| format!("serve: {e}"))?;
        }
        Ok(())
    })?;
    let took = start.elapsed();
    expect_all_ok(&mut children)?;
    let n = CLIENTS as u64 * calls();
    Ok(format!(
        "{CLIENTS} client processes x {} calls over a Unix stream socket, all matched: {:.1} µs per call",
        calls(),
        took.as_secs_f64() * 1e6 / n as f64
    ))
}

/// A server process killed while this process's call waits: the call
/// fails with `PeerGone` within the bound, over shared memory and over a
/// socket.
fn server_killed_mid_call() -> Result<String, String> {
    let mut seen = Vec::new();
    // Shared memory.
    let g = ShmGuard::new("rpc-killed");
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut server = fork_child(|| {
        let Ok(mut server) = shm::Server::create(&name, 16 << 10) else {
            return EXIT_RING_ERROR;
        };
        words.word(0).store(1, Ordering::Release);
        // Answers one call, then takes the next and never answers.
        let Ok(r) = server.recv_request() else {
            return EXIT_RING_ERROR;
        };
        if server.respond(&r, b"first").is_err() {
            return EXIT_RING_ERROR;
        }
        let _held = server.recv_request();
        words.word(1).store(1, Ordering::Release);
        std::thread::sleep(PATIENCE);
        EXIT_CHECK
    })?;
    ensure!(words.wait_for(0, 1, PATIENCE), "server not up");
    let mut client = shm::connect(&g.0, 4096).map_err(|e| e.to_string())?;
    let first = client.call(b"1", PATIENCE).map_err(|e| e.to_string())?;
    ensure!(first == b"first", "first answer");
    let id = client.request(b"2").map_err(|e| e.to_string())?;
    ensure!(
        words.wait_for(1, 1, PATIENCE),
        "server did not take the call"
    );
    let killed = Instant::now();
    server.kill();
    match client.response(id, PATIENCE) {
        Err(e) if e.is_peer_gone() => seen.push(killed.elapsed()),
        other => return Err(format!("shm call after the kill: {other:?}")),
    }

    // A Unix stream socket.
    let addr = UnixAddr::abstract_name(unique_name("rpc-killed"));
    let listener = UnixStreamListener::bind(&addr, 4096).map_err(|e| e.to_string())?;
    let mut server = fork_child(|| {
        let Ok(link) = listener.accept(Some(PATIENCE)) else {
            return EXIT_RING_ERROR;
        };
        let mut server = Server::new(link, "killed");
        let _held = server.recv_request();
        std::thread::sleep(PATIENCE);
        EXIT_CHECK
    })?;
    let mut client = Client::new(
        unix::connect_stream(&addr, 4096).map_err(|e| e.to_string())?,
        "killed",
    );
    let id = client.request(b"held").map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(50));
    let killed = Instant::now();
    server.kill();
    match client.response(id, PATIENCE) {
        Err(e) if e.is_peer_gone() => seen.push(killed.elapsed()),
        other => return Err(format!("socket call after the kill: {other:?}")),
    }
    ensure!(
        seen.iter().all(|t| *t < DEATH_BOUND),
        "PeerGone after {seen:?}"
    );
    Ok(format!(
        "PeerGone {:?} (shm) and {:?} (socket) after SIGKILL",
        seen[0], seen[1]
    ))
}

/// A client process killed while its call is in the server's hands: the
/// server's answer to it fails (or is dropped at the sweep), the server
/// goes on serving the others, and holds nothing for the dead one.
fn client_killed_mid_call() -> Result<String, String> {
    let g = ShmGuard::new("rpc-client-killed");
    let mut server = shm::Server::create(&g.0, 16 << 10).map_err(|e| e.to_string())?;
    let name = g.0.clone();
    let mut victim = fork_child(|| {
        let Ok(mut client) = shm::connect(&name, 4096) else {
            return EXIT_RING_ERROR;
        };
        let _ = client.call(b"victim", PATIENCE);
        EXIT_CHECK
    })?;
    let held = server.recv_request().map_err(|e| e.to_string())?;
    ensure!(held.payload == b"victim", "first request");
    victim.kill();
    let mut other = shm::connect(&g.0, 4096).map_err(|e| e.to_string())?;
    let id = other.request(b"other").map_err(|e| e.to_string())?;
    // The hello of `other` sweeps the killed client's reply channel.
    let r = server.recv_request().map_err(|e| e.to_string())?;
    ensure!(server.clients() == 1, "{} clients held", server.clients());
    match server.respond(&held, b"too late") {
        Err(Error::Protocol { .. }) => {}
        other => return Err(format!("answer to the killed client: {other:?}")),
    }
    server.respond(&r, b"fine").map_err(|e| e.to_string())?;
    let got = other.response(id, PATIENCE).map_err(|e| e.to_string())?;
    ensure!(got == b"fine", "the other client's answer");
    Ok("killed client's reply channel dropped at the next hello; others served".into())
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("shm: 4 client processes", shm_many_clients),
        ("unix stream: 4 client processes", unix_many_clients),
        ("server killed mid-call", server_killed_mid_call),
        ("client killed mid-call", client_killed_mid_call),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}
