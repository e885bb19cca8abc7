//! A configuration store that other processes sample: this program places
//! a latest-value slot in a named shared-memory object, starts two reader
//! processes, and publishes a new configuration now and then. Each reader
//! gets the newest complete value whenever it looks (never a torn one, and
//! the writer never waits for readers), and notices which versions it
//! skipped.
//!
//! Run: `cargo run -p ipckit-examples --example latest_config`

use std::process::Command;
use std::time::Duration;

use ipckit::latest::Slot;
use ipckit::object::Remove;
use ipckit::shm::ShmObject;

#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Config {
    rate_hz: u32,
    gain: f32,
    enabled: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(name) = std::env::args().nth(1) {
        // A reader: samples the slot every 30 ms until the writer is done.
        let object = ShmObject::open(&name)?;
        let slot = Slot::<Config>::attach(object.region())?;
        let mut reader = slot.reader();
        loop {
            match reader.try_read_changed() {
                Ok(Some(c)) if c.enabled == 0 => return Ok(()),
                Ok(Some(c)) => {
                    println!("reader {}: v{} {c:?}", std::process::id(), reader.version())
                }
                Ok(None) | Err(ipckit::CoreError::Empty) => {}
                Err(e) => return Err(e.into()),
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    let name = format!("ipckit-example-latest-{}", std::process::id());
    let object = ShmObject::create(&name, Slot::<Config>::region_len()?)?.remove_on_drop();
    let slot = Slot::<Config>::init(object.region())?;
    let mut writer = slot.writer()?;
    let mut readers = (0..2)
        .map(|_| Command::new(std::env::current_exe()?).arg(&name).spawn())
        .collect::<std::io::Result<Vec<_>>>()?;
    for step in 1..=20u32 {
        let config = Config {
            rate_hz: 100 * step,
            gain: 1.0 / step as f32,
            enabled: 1,
        };
        writer.write(config); // never waits
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.write(Config {
        rate_hz: 0,
        gain: 0.0,
        enabled: 0,
    }); // "stop"
    for reader in &mut readers {
        reader.wait()?;
    }
    Ok(())
}
