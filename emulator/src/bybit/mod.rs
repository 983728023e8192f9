//! Bybit v5 linear perpetuals, in Bybit's wire format.
//!
//! Signature checks and wire shapes here are written apart from keyward's adapter, so a
//! mistake in one shows up as a failure against the other.

pub mod signing;
