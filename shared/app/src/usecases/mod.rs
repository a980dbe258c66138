//! The use cases: single-step async functions over the ports, called alike by
//! the Lambdas, the local runtime and the tests.

pub(crate) mod companies;
pub mod dead_letters;
pub(crate) mod echoes;
pub mod health;
pub mod import;
pub mod org_move;
pub mod resync;
pub mod setup;
pub mod sweep;
pub mod sync;
pub mod webhook;
