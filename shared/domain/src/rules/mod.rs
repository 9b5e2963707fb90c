//! Pure decisions. "Why was this refused?" is answered in one of these files.

pub mod agreements;
pub mod attribution;
pub mod balance;
pub mod bill;
pub mod exporters;
pub mod fields;
pub mod issuing;
pub mod metering;
pub mod rating;
pub mod settlement;
pub mod usage;
