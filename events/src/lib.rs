//! Domain events of keyward and the envelope they travel in.
//!
//! Everything here is plain data: no I/O, no clocks. Event names are past-tense facts and part
//! of the public contract; payloads are JSON, versioned per event type, and upcast on read.

pub mod account;
pub mod bot;
pub mod codec;
pub mod envelope;
pub mod exchange;
pub mod key;
pub mod market;
pub mod stream;
pub mod vault;

pub use codec::{DomainEvent, EventCodecError};
pub use envelope::{Metadata, NewEvent, RecordedEvent};
pub use exchange::{Exchange, KeyPermissions};
pub use stream::{Category, StreamName, StreamNameError};
