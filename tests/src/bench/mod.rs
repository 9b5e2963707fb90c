//! The benchmark's parts: a minimal Lambda Runtime API that hosts one function process,
//! a counting HTTP proxy in front of DynamoDB Local and moto, and event builders.

pub mod baseline;
pub mod cost;
pub mod events;
pub mod proxy;
pub mod runtime_api;
pub mod stats;
