//! The functions of this crate.

pub mod orders;
