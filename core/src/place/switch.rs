//! The loom switch for what ring modules declare: their test hooks and
//! their layout assertions, so that `cfg(ipckit_loom)` stays in this layer
//! and `sync`.

/// Marks one item (a test hook of a ring: `claim_and_die`) as compiled for
/// the unit tests and the loom models only, so that the switch stays in
/// this layer.
macro_rules! test_hook {
    ($($item:tt)*) => {
        #[cfg(any(test, ipckit_loom))]
        $($item)*
    };
}

/// Compile-time assertions of a ring's layout table (offsets and sizes of
/// the production types; loom's atomics and cells have other sizes).
macro_rules! layout_asserts {
    ($($body:tt)*) => {
        #[cfg(not(ipckit_loom))]
        const _: () = { $($body)* };
    };
}

pub(crate) use {layout_asserts, test_hook};
