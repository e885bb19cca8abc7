//! The loom switch for what ring modules and the region header declare:
//! their test hooks, their model-only and region-only items and their
//! layout assertions, so that `cfg(ipckit_loom)` stays in this layer and
//! `sync`.

/// Marks one item (a test hook of a ring: `claim_and_die`) as compiled for
/// the unit tests and the loom models only, so that the switch stays in
/// this layer.
#[cfg_attr(not(ipckit_cas), allow(unused_macros))] // the CAS rings' hooks
macro_rules! test_hook {
    ($($item:tt)*) => {
        #[cfg(any(test, ipckit_loom))]
        $($item)*
    };
}

/// Marks one item as compiled for the loom models only: a model-only
/// constructor of an object that wraps its [`Placed`](super::Placed).
macro_rules! model_only {
    ($($item:tt)*) => {
        #[cfg(ipckit_loom)]
        $($item)*
    };
}

/// Marks one item as compiled outside the loom models only: a constructor
/// on a [`Region`](crate::Region) of an object that wraps its
/// [`Placed`](super::Placed) (the models place it on the heap).
macro_rules! region_only {
    ($($item:tt)*) => {
        #[cfg(not(ipckit_loom))]
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

/// The production expression, or under the loom models the modelled one:
/// for the few places where the two worlds move data differently (the
/// bytes of a data area, which are loom cells one per byte). `unused`
/// names what only the production expression reads.
macro_rules! production_or_model {
    ($production:expr, model: $model:expr $(, unused: $($unused:ident),*)?) => {{
        #[cfg(not(ipckit_loom))]
        {
            $production
        }
        #[cfg(ipckit_loom)]
        {
            // What only the production expression reads.
            $($(let _ = &$unused;)*)?
            $model
        }
    }};
}

pub(crate) use {layout_asserts, model_only, production_or_model, region_only, test_hook};
