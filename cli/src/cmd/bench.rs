//! `ipckit bench`: see [`crate::bench`].

pub use crate::bench::{Args, run};
