//! One module per subcommand.

pub mod bench;
pub mod inspect;
pub mod ls;
pub mod recv;
pub mod rm;
pub mod send;
