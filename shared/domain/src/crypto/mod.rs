//! CPU-only security primitives: no I/O, so they are tested without a network.

pub mod password;
pub mod token;
