//! Test support: the real handlers wired to the real local servers that `make test`
//! starts (DynamoDB Local, moto, the Marketplace emulator), with a clock tests can move;
//! and the parts of the benchmark harness (`bench`).

pub mod bench;
pub mod emulator;
pub mod harness;
pub mod hosted;
pub mod marketplaces;
pub mod money_check;
pub mod requests;
pub mod seeds;
pub mod template;

pub use emulator::*;
pub use harness::*;
pub use marketplaces::*;
pub use requests::*;
pub use seeds::*;
