//! placeholder
pub use ipckit_core::*;
