//! Three semaphores with the same verbs (`CountingSemaphore`):
//! - a POSIX named semaphore hands turns to a spawned peer, which opens it
//!   by name;
//! - a System V semaphore used as a lock with `SEM_UNDO`: the peer takes it
//!   and is killed while holding it, and the kernel gives the unit back;
//! - the core's shared-memory semaphore, in process, for comparison.
//!
//! Run: `cargo run -p ipckit-examples --example semaphores`

use std::process::Command;
use std::time::Duration;

use ipckit::object::Remove;
use ipckit::shm::SharedMapping;
use ipckit::transport::semaphore::{CountingSemaphore, NamedSemaphore, SysvSemaphoreSet};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const PATIENCE: Option<Duration> = Some(Duration::from_secs(5));

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("turns") => peer_turns(&args[2]),
        Some("hold") => peer_hold(args[2].parse()?),
        _ => parent(),
    }
}

fn parent() -> Result<()> {
    // 1. Named semaphores: ping and pong.
    let ping_name = format!("ipckit-example-sem-{}", std::process::id());
    let pong_name = format!("{ping_name}-pong");
    // The guards unlink the names when they drop, also on error.
    let ping = NamedSemaphore::create(&ping_name, 0)?.remove_on_drop(); // /dev/shm/sem.<name>
    let pong = NamedSemaphore::create(&pong_name, 0)?.remove_on_drop();
    let exe = std::env::current_exe()?;
    let mut peer = Command::new(&exe).args(["turns", &ping_name]).spawn()?;
    for turn in 0..3 {
        ping.post()?;
        pong.wait_timeout(PATIENCE)?;
        println!("parent: turn {turn} came back");
    }
    peer.wait()?;
    drop((ping, pong));

    // 2. A System V lock with SEM_UNDO, whose holder gets killed.
    let set = SysvSemaphoreSet::create_private(1)?.remove_on_drop();
    set.set_value(0, 1)?; // one unit: a lock
    let mut holder = Command::new(&exe)
        .args(["hold", &set.id().to_string()])
        .spawn()?;
    std::thread::sleep(Duration::from_millis(200)); // it takes the lock
    println!("parent: lock value while held: {}", set.value(0)?);
    holder.kill()?;
    holder.wait()?;
    set.get(0).wait_timeout(PATIENCE)?; // SEM_UNDO gave the unit back
    println!("parent: holder killed, lock taken back");
    set.remove()?; // now, reporting an error

    // 3. The core's semaphore on shared memory (futex waits, no syscall
    //    when uncontended).
    let mapping = SharedMapping::anonymous(4096)?;
    let options = ipckit::semaphore::Options::new(10).initial(1).waking(true);
    let sem = ipckit::semaphore::Semaphore::init_with(mapping.region(), options)?;
    let handle = sem.handle_with(ipckit::futex::Futex::new())?;
    CountingSemaphore::wait(&handle)?;
    println!(
        "core semaphore: try_wait now: {:?}",
        CountingSemaphore::try_wait(&handle).is_ok()
    );
    CountingSemaphore::post(&handle)?;
    Ok(())
}

fn peer_turns(ping_name: &str) -> Result<()> {
    let ping = NamedSemaphore::open(ping_name)?;
    let pong = NamedSemaphore::open(&format!("{ping_name}-pong"))?;
    for _ in 0..3 {
        ping.wait_timeout(PATIENCE)?;
        pong.post()?;
    }
    Ok(())
}

fn peer_hold(id: i32) -> Result<()> {
    let mut set = SysvSemaphoreSet::from_id(id)?;
    set.set_undo(true); // a lock: the kernel gives the unit back if we die
    set.get(0).wait_timeout(PATIENCE)?;
    println!("holder: got the lock, now hanging on to it");
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}
