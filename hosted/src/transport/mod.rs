//! Transports: the operating system's IPC mechanisms behind the one
//! [message interface](crate::message).
mod deadline;
pub mod eventfd;
pub mod file_log;
pub mod limits;
pub mod posix_mq;
pub mod semaphore;
pub mod signal;
pub mod sysv_mq;
