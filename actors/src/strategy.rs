//! Trading strategies.
