//! The billing center's domain: what the business decides, with no I/O.
//!
//! - [`model`] and [`sites`]: the nouns of `domain.md`.
//! - [`rules`]: pure decisions (validation, the four settlement scenarios, change limits).
//! - [`ports`]: the traits the outside world is reached through (store, mailer, marketplace, clock).
//! - [`service`]: one function per operation: load through ports, decide with rules, commit.
//! - [`crypto`]: password hashing, signed tokens and the Alibaba SPI signature.

pub mod backoff;
pub mod billing_items;
pub mod crypto;
pub mod email;
pub mod error;
pub mod model;
pub mod money;
pub mod ports;
pub mod rules;
pub mod service;
pub mod sites;
pub mod telemetry;
pub mod views;

pub use error::{Error, FieldError, Result};
