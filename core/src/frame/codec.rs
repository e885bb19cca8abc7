//! Length-prefixed frames for byte streams (in progress).
