//! OKX v5 perpetual swaps, in OKX's wire format.
//!
//! Signature checks and wire shapes here are written apart from keyward's adapter, so a
//! mistake in one shows up as a failure against the other.

pub mod signing;
