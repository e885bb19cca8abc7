//! A calculator service with several clients: this program creates the
//! shared-memory service, starts itself three times as a client, and
//! answers every client's sums until all have gone. A request is an
//! expression like `"12 + 30"`; a bad one comes back as a failure.
//!
//! Run: `cargo run -p ipckit-examples --example rpc_calculator`

use std::process::Command;
use std::time::Duration;

use ipckit::rpc::shm;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// `"a + b"`, `"a - b"`, `"a * b"` on integers.
fn calculate(request: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let text = std::str::from_utf8(request).map_err(|_| "not UTF-8".to_string())?;
    let mut words = text.split_whitespace();
    let (a, op, b) = (words.next(), words.next(), words.next());
    let number = |w: Option<&str>| w.and_then(|w| w.parse::<i64>().ok());
    let (Some(a), Some(b)) = (number(a), number(b)) else {
        return Err(format!("not `a op b`: {text:?}"));
    };
    let value = match op {
        Some("+") => a.checked_add(b),
        Some("-") => a.checked_sub(b),
        Some("*") => a.checked_mul(b),
        _ => return Err(format!("unknown operator in {text:?}")),
    };
    value
        .map(|v| v.to_string().into_bytes())
        .ok_or_else(|| format!("{text} overflows"))
}

fn client(name: &str, me: &str) -> Result<()> {
    let mut calc = shm::connect(name, 4096)?;
    for question in [format!("{me} * 7"), format!("{me} + 100"), "2 ^ 3".into()] {
        match calc.call(question.as_bytes(), Duration::from_secs(5)) {
            Ok(answer) => println!(
                "client {me}: {question} = {}",
                String::from_utf8_lossy(&answer)
            ),
            Err(e) => println!("client {me}: {question}: {e}"),
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, name, me] = &args[..] {
        return client(name, me);
    }
    let name = format!("example-calculator-{}", std::process::id());
    let mut server = shm::Server::create(&name, 16 << 10)?;
    let mut clients = (1..=3)
        .map(|i| Command::new(&args[0]).args([&name, &i.to_string()]).spawn())
        .collect::<std::io::Result<Vec<_>>>()?;
    // `serve` returns whenever every client that came has gone.
    while clients.iter_mut().any(|c| matches!(c.try_wait(), Ok(None))) {
        server.serve(calculate)?;
    }
    drop(server);
    Ok(ipckit::shm::ShmObject::remove(
        ipckit::channel::object_name(&name)?.as_str(),
    )?)
}
