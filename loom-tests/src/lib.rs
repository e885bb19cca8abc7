//! loom models of ipckit-core; see tests/.
