//! A System V message queue shared by one writer and two readers, each
//! reading only the messages of its type. The queue is anonymous
//! (`IPC_PRIVATE`); the readers are spawned copies of this program that get
//! its id on the command line. The writer removes it (`IPC_RMID`) at the
//! end, which also ends any reader still waiting.
//!
//! Run: `cargo run -p ipckit-examples --example sysv_mq`

use std::process::Command;
use std::time::Duration;

use ipckit::object::Remove;
use ipckit::transport::sysv_mq::SysvMq;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn writer() -> Result<()> {
    // A System V queue outlives its processes: the guard removes it when
    // `q` drops, also on error.
    let mut q = SysvMq::create_private()?.remove_on_drop();
    let id = q.id();
    println!("writer: queue id {id} (see /proc/sysvipc/msg or `ipcs -q`)");
    let exe = std::env::current_exe()?;
    let mut readers = Vec::new();
    for mtype in [1, 2] {
        readers.push(
            Command::new(&exe)
                .args(["reader", &id.to_string(), &mtype.to_string()])
                .spawn()?,
        );
    }
    // Type 1 for reader 1, type 2 for reader 2; a 0-length message ends each.
    for i in 0..3 {
        q.send_typed(1, format!("job {i} for reader 1").as_bytes(), None)?;
        q.send_typed(2, format!("job {i} for reader 2").as_bytes(), None)?;
    }
    q.send_typed(1, b"", None)?;
    q.send_typed(2, b"", None)?;
    for mut r in readers {
        r.wait()?;
    }
    q.remove()?; // now, reporting an error
    println!("writer: queue removed");
    Ok(())
}

fn reader(id: i32, mtype: i64) -> Result<()> {
    let mut q = SysvMq::from_id(id)?;
    let mut buf = vec![0; q.max_message_len()];
    loop {
        // SysV has no timed receive: this one polls with short sleeps.
        let (n, _) = q.recv_typed(mtype, &mut buf, Some(Duration::from_secs(5)))?;
        if n == 0 {
            return Ok(());
        }
        println!("reader {mtype}: {}", String::from_utf8_lossy(&buf[..n]));
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("reader") => reader(args[2].parse()?, args[3].parse()?),
        _ => writer(),
    }
}
