//! Pure decisions. "Why was this refused?" is answered in one of these files.

pub mod agreements;
pub mod fields;
pub mod metering;
pub mod rating;
pub mod settlement;
pub mod usage;
