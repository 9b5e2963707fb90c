//! CPU-only security primitives: no I/O, so they are tested without a network.

pub mod koogallery;
pub mod password;
pub mod spi_signature;
pub mod token;
