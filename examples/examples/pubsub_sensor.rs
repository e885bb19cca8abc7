//! A sensor that publishes readings to any number of consumer processes:
//! this program creates the topic `sensors/imu/<pid>`, starts three
//! consumer processes (the same program with an argument), and publishes
//! 2,000 readings at about 10 kHz. The publisher never waits for anyone;
//! each consumer sleeps until a reading comes, and one that falls behind
//! learns exactly how many readings it missed. When the sensor stops, the
//! consumers drain what is left and see `PeerGone`.
//!
//! Run: `cargo run -p ipckit-examples --example pubsub_sensor`

use std::process::Command;
use std::time::Duration;

use ipckit::{Error, pubsub};

#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Reading {
    seq: u64,
    accel: [f32; 3],
    temp_c: f32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(name) = std::env::args().nth(1) {
        // A consumer: the slow one (any argument after the name) lags.
        let slow = std::env::args().nth(2).is_some();
        let mut rx = pubsub::topic::<Reading>(&name).open()?.subscriber()?;
        let (mut got, mut missed, mut last) = (0u64, 0u64, None);
        for reading in rx.iter() {
            match reading {
                Ok(r) => (got, last) = (got + 1, Some(r)),
                Err(Error::Lagged(n)) => missed += n,
                Err(e) => return Err(e.into()),
            }
            if slow {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        println!(
            "consumer {}: {got} readings, {missed} missed, last {last:?}",
            std::process::id()
        );
        return Ok(());
    }
    let name = format!("sensors/imu/{}", std::process::id());
    let topic = pubsub::topic::<Reading>(&name).capacity(256).create()?;
    let mut consumers = Vec::new();
    for slow in [None, None, Some("slow")] {
        let mut cmd = Command::new(std::env::current_exe()?);
        consumers.push(cmd.arg(&name).args(slow).spawn()?);
    }
    let mut sensor = topic.publisher()?;
    sensor.remove_name_after(3, Duration::from_secs(10))?; // the name is no longer needed
    for seq in 0..2000 {
        let t = seq as f32 / 1000.0;
        sensor.publish(Reading {
            seq,
            accel: [t.sin(), t.cos(), 9.81],
            temp_c: 21.5,
        });
        std::thread::sleep(Duration::from_micros(100));
    }
    drop(sensor); // the consumers drain what is left, then see `PeerGone`
    for mut c in consumers {
        c.wait()?;
    }
    Ok(())
}
