//! `ipckit`: benchmark every IPC mechanism side by side (`bench`), and look
//! after the ipckit objects on this machine (`ls`, `inspect`, `rm`), or move
//! messages from shell scripts (`send`, `recv`).
//!
//! Everything that is about a terminal (argument parsing, tables, progress
//! bars, plots) lives in this crate, never in the libraries.

mod bench;
mod cmd;
mod fail;
mod objects;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Inter-process communication toolkit: benchmarks and object tools.
#[derive(Parser, Debug)]
#[command(name = "ipckit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the ipckit objects in /dev/shm (and mapped files given by path),
    /// like `ipcs`.
    Ls(cmd::ls::Args),
    /// Show every header field and counter of one object, and whether its
    /// header validates.
    Inspect(cmd::inspect::Args),
    /// Remove an object by name, or every stale channel with `--stale`.
    Rm(cmd::rm::Args),
    /// Send messages (stdin lines, a file, or arguments) on a byte channel.
    Send(cmd::send::Args),
    /// Receive messages from a byte channel and print them.
    Recv(cmd::recv::Args),
    /// Measure every mechanism across two pinned processes: round-trip
    /// latency and one-way throughput, each beside its reference.
    Bench(cmd::bench::Args),
}

fn main() -> ExitCode {
    fail::install_panic_hook();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ls(a) => cmd::ls::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Rm(a) => cmd::rm::run(a),
        Command::Send(a) => cmd::send::run(a),
        Command::Recv(a) => cmd::recv::run(a),
        Command::Bench(a) => cmd::bench::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.print();
            ExitCode::from(e.code)
        }
    }
}
