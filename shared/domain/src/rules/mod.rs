//! Pure decisions. "Why was this refused?" is answered in one of these files.

pub mod fields;
pub mod settlement;
