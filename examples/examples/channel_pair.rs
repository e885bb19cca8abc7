//! A channel to a child process, as easy as `std::sync::mpsc::channel()`:
//! the pair lives on a sealed anonymous memfd (no name, nothing to clean
//! up), the child's end is handed over when it is spawned and claimed
//! there. The child doubles what it receives and sends it back on a
//! second pair.
//!
//! Run: `cargo run -p ipckit-examples --example channel_pair`

use std::process::Command;

use ipckit::channel::{self, spsc};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("JOBS").is_some() {
        // The child.
        // SAFETY: the parent passed these descriptors to us alone.
        let mut jobs = unsafe { spsc::Receiver::<u64>::from_inherited("JOBS") }?;
        // SAFETY: as above.
        let mut results = unsafe { spsc::Sender::<u64>::from_inherited("RESULTS") }?;
        for job in jobs.iter() {
            results.send(job? * 2)?;
        }
        return Ok(()); // the iterator ended: the parent dropped its sender
    }
    let (mut jobs, jobs_end) = channel::spsc::<u64>().capacity(64).pair_for_child()?;
    let (mut results, results_end) = channel::spsc::<u64>().capacity(64).pair_from_child()?;
    let mut cmd = Command::new(std::env::current_exe()?);
    jobs_end.pass_to(&mut cmd, "JOBS")?;
    results_end.pass_to(&mut cmd, "RESULTS")?;
    let mut child = cmd.spawn()?;
    drop((jobs_end, results_end));
    for i in 1..=10 {
        jobs.send(i)?;
        println!("{i} -> {}", results.recv()?);
    }
    drop(jobs);
    assert!(child.wait()?.success());
    Ok(())
}
