//! A child process with pipes (popen-style): spawn a command and talk to it
//! over its stdin and stdout, as framed messages or as raw bytes.
//!
//! [`Popen::spawn`] starts the command with its stdin and stdout connected
//! to pipes (stderr as the [`Command`] says; inherited by default).
//! [`Popen`] is both a [`MessageSender`] (frames into the child's stdin)
//! and a [`MessageReceiver`] (frames out of its stdout), with the
//! [stream module](super::stream)'s timeouts and end-of-stream rules;
//! [`write_raw`](Popen::write_raw) / [`read_raw`](Popen::read_raw) move
//! bytes without frames, for a program that does not speak them (`sort`,
//! `cat`). A child written with ipckit takes its side with
//! [`child_stdio`].
//!
//! # Exit status and no zombies
//! [`wait_timeout`](Popen::wait_timeout) and [`try_wait`](Popen::try_wait)
//! collect the exit status (`waitpid`), [`kill`](Popen::kill) sends
//! `SIGKILL` and reaps. Dropping a [`Popen`] whose child was not reaped:
//! closes the child's stdin (its end of input), waits for it to exit for
//! at most the drop grace ([`DEFAULT_DROP_GRACE`], see
//! [`set_drop_grace`](Popen::set_drop_grace)), then kills it with
//! `SIGKILL` and reaps it. So a dropped child never stays a zombie, and a
//! child that does not end on end of input lives at most the grace longer.
//!
//! ```
//! use std::process::Command;
//! use ipckit::transport::popen::Popen;
//!
//! // `tr` knows no frames: talk to it in raw bytes.
//! let mut child = Popen::spawn(Command::new("tr").arg("a-z").arg("A-Z"), 1024)?;
//! child.write_raw(b"shout", None)?;
//! child.close_stdin()?;
//! let mut out = Vec::new();
//! let mut buf = [0u8; 64];
//! loop {
//!     match child.read_raw(&mut buf, None)? {
//!         0 => break,
//!         n => out.extend_from_slice(&buf[..n]),
//!     }
//! }
//! assert_eq!(out, b"SHOUT");
//! assert!(child.wait_timeout(None)?.expect("exited").success());
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::stream::{Deadline, FramedReader, FramedWriter, consumer_gone};
use crate::error::{CoreError, Error, Result};
use crate::message::{MessageReceiver, MessageSender};

/// How long a dropped [`Popen`] waits for its child to exit after closing
/// its stdin, before killing it: 1 s.
pub const DEFAULT_DROP_GRACE: Duration = Duration::from_secs(1);

/// A spawned child process with framed (or raw) pipes to its stdin and
/// stdout; see the [module docs](self).
#[derive(Debug)]
pub struct Popen {
    child: Child,
    stdin: Option<FramedWriter<ChildStdin>>,
    stdout: FramedReader<ChildStdout>,
    max_frame_len: u32,
    status: Option<ExitStatus>,
    grace: Duration,
}

impl Popen {
    /// Spawns `cmd` with piped stdin and stdout, for frames of at most
    /// `max_frame_len` bytes each way.
    pub fn spawn(cmd: &mut Command, max_frame_len: u32) -> Result<Self> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Error::os("spawn", format!("{:?}", cmd.get_program()), e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CoreError::Corrupted("spawned child has no stdio pipes").into());
        };
        let framed = FramedReader::new(stdout, max_frame_len)
            .and_then(|r| Ok((r, FramedWriter::new(stdin, max_frame_len)?)));
        let (stdout, stdin) = match framed {
            Ok(ends) => ends,
            Err(e) => {
                // Leave no zombie behind.
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Self {
            child,
            stdin: Some(stdin),
            stdout,
            max_frame_len,
            status: None,
            grace: DEFAULT_DROP_GRACE,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How long a drop waits for the child to exit before killing it.
    pub fn set_drop_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    /// Closes the child's stdin (it reads end of input), after finishing a
    /// frame accepted in part (waiting at most
    /// [`DROP_LINGER`](super::stream::DROP_LINGER)). Later sends fail with
    /// [`Error::PeerGone`].
    pub fn close_stdin(&mut self) -> Result<()> {
        if let Some(mut w) = self.stdin.take() {
            w.flush(Some(super::stream::DROP_LINGER))?;
        }
        Ok(())
    }

    /// Writes raw bytes to the child's stdin (no frame); returns how many
    /// went out.
    pub fn write_raw(&mut self, data: &[u8], timeout: Option<Duration>) -> Result<usize> {
        match &mut self.stdin {
            Some(w) => w.write_raw(data, timeout),
            None => Err(consumer_gone()),
        }
    }

    /// Reads raw bytes from the child's stdout (no frame); 0 at its end.
    pub fn read_raw(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.stdout.read_raw(buf, timeout)
    }

    /// The exit status if the child has exited (reaping it), without
    /// waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .map_err(|e| Error::os("waitpid", format!("pid {}", self.child.id()), e))?;
        }
        Ok(self.status)
    }

    /// Waits at most `timeout` for the child to exit and returns its
    /// status (`None` if it is still running). Does not close its stdin:
    /// call [`close_stdin`](Self::close_stdin) first if it reads to the end
    /// of its input.
    pub fn wait_timeout(&mut self, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        let deadline = Deadline::new(timeout);
        let mut nap = Duration::from_micros(100);
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            match deadline.remaining() {
                Some(left) if left.is_zero() => return Ok(None),
                Some(left) => std::thread::sleep(nap.min(left)),
                None => std::thread::sleep(nap),
            }
            nap = (nap * 2).min(Duration::from_millis(10));
        }
    }

    /// Kills the child (`SIGKILL`) if it still runs, and reaps it.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        if let Some(s) = self.try_wait()? {
            return Ok(s);
        }
        let pid = self.child.id();
        self.child
            .kill()
            .map_err(|e| Error::os("kill", format!("pid {pid}"), e))?;
        let s = self
            .child
            .wait()
            .map_err(|e| Error::os("waitpid", format!("pid {pid}"), e))?;
        self.status = Some(s);
        Ok(s)
    }
}

impl MessageSender for Popen {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        match &mut self.stdin {
            Some(w) => w.send_timeout(msg, timeout),
            None => Err(consumer_gone()),
        }
    }

    fn max_message_len(&self) -> usize {
        self.max_frame_len as usize
    }

    /// Finishes a frame to the child's stdin accepted in part;
    /// `Ok(true)` also after [`close_stdin`](Popen::close_stdin) (which
    /// flushed).
    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        match &mut self.stdin {
            Some(w) => w.flush(timeout),
            None => Ok(true),
        }
    }
}

impl MessageReceiver for Popen {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.stdout.recv_timeout(buf, timeout)
    }

    fn max_message_len(&self) -> usize {
        self.max_frame_len as usize
    }
}

impl Drop for Popen {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        let _ = self.close_stdin();
        if !matches!(self.wait_timeout(Some(self.grace)), Ok(Some(_))) {
            let _ = self.kill();
        }
    }
}

/// The child's side of a [`Popen`]: frames from this process's stdin and
/// frames to its stdout, as `(receiver, sender)`.
///
/// Both descriptors are duplicated (close-on-exec) and switched to
/// non-blocking mode, and descriptor 1 is then pointed at stderr, so that a
/// stray `println!` cannot corrupt the frames: it lands on stderr.
pub fn child_stdio(max_frame_len: u32) -> Result<(FramedReader<OwnedFd>, FramedWriter<OwnedFd>)> {
    let dup = |fd: std::os::fd::BorrowedFd<'_>, what: &str| {
        fd.try_clone_to_owned()
            .map_err(|e| Error::os("fcntl(F_DUPFD_CLOEXEC)", what.to_string(), e))
    };
    let stdin = dup(std::io::stdin().as_fd(), "stdin")?;
    let stdout = dup(std::io::stdout().as_fd(), "stdout")?;
    // SAFETY: plain call on descriptors 2 and 1 of this process; fd 1's
    // file stays open through the duplicate taken above.
    if unsafe { libc::dup2(std::io::stderr().as_raw_fd(), 1) } < 0 {
        return Err(Error::last_os("dup2", "stderr onto stdout"));
    }
    Ok((
        FramedReader::new(stdin, max_frame_len)?,
        FramedWriter::new(stdout, max_frame_len)?,
    ))
}
