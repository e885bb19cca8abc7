//! Transports: the operating system's IPC mechanisms behind the one
//! [message interface](crate::message).
//!
//! Stream transports (pipe, FIFO, Unix stream socket, TCP, a child's
//! stdin/stdout) carry the core's length-prefixed frames through
//! [`stream`]; datagram and queue transports keep their native boundaries.
pub(crate) mod deadline;
pub mod eventfd;
pub mod fifo;
pub mod file_log;
pub mod limits;
pub mod pipe;
pub mod popen;
pub mod posix_mq;
pub mod semaphore;
pub mod signal;
pub mod stream;
pub mod sysv_mq;
pub mod tcp;
pub mod unix;
