//! A message log in a file: two writer processes append whole records to
//! the same file (an OFD lock around each append keeps them from
//! interleaving), while this process follows the log like `tail -f`.
//! The log stays readable by anyone later: it is just length-prefixed
//! records. Removed at the end.
//!
//! Run: `cargo run -p ipckit-examples --example file_log`

use std::process::Command;
use std::time::Duration;

use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::file_log::{LogReader, LogWriter};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const MAX_RECORD: u32 = 4096;
const PER_WRITER: usize = 5;

fn follower() -> Result<()> {
    let path = std::env::temp_dir().join(format!("ipckit-example-log-{}", std::process::id()));
    drop(LogWriter::create(&path, MAX_RECORD)?); // create it empty, mode 0600
    let result = (|| -> Result<()> {
        let exe = std::env::current_exe()?;
        let mut writers = Vec::new();
        for who in ["alpha", "beta"] {
            writers.push(
                Command::new(&exe)
                    .args(["writer", who])
                    .arg(&path)
                    .spawn()?,
            );
        }
        let mut reader = LogReader::open(&path, MAX_RECORD)?;
        for _ in 0..2 * PER_WRITER {
            // At the end of the file the reader polls; a writer that died
            // would leave us waiting, so bound it.
            let record = reader.recv_vec_timeout(Duration::from_secs(5))?;
            println!(
                "follower @{:>4}: {}",
                reader.offset(),
                String::from_utf8_lossy(&record)
            );
        }
        for mut w in writers {
            w.wait()?;
        }
        Ok(())
    })();
    LogWriter::remove(&path)?;
    result
}

fn writer(who: &str, path: &str) -> Result<()> {
    let mut log = LogWriter::open(path, MAX_RECORD)?;
    for i in 0..PER_WRITER {
        log.send(format!("{who}: entry {i}").as_bytes())?;
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// `recv_vec` with a timeout.
trait RecvVecTimeout {
    fn recv_vec_timeout(&mut self, t: Duration) -> ipckit::error::Result<Vec<u8>>;
}

impl<R: MessageReceiver> RecvVecTimeout for R {
    fn recv_vec_timeout(&mut self, t: Duration) -> ipckit::error::Result<Vec<u8>> {
        let mut buf = vec![0; self.max_message_len()];
        let n = self.recv_timeout(&mut buf, Some(t))?;
        buf.truncate(n);
        Ok(buf)
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("writer") => writer(&args[2], &args[3]),
        _ => follower(),
    }
}
