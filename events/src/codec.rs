//! Encoding domain events into envelopes and decoding stored envelopes back, with upcasting.

use uuid::Uuid;

use crate::envelope::{Metadata, NewEvent, RecordedEvent};

/// Why a stored event could not be decoded or a new one encoded.
#[derive(Debug, thiserror::Error)]
pub enum EventCodecError {
    #[error("unknown event type {event_type:?} in this category")]
    UnknownType { event_type: String },
    #[error("event type {event_type} has schema version {version}, newer than this build knows")]
    UnknownVersion { event_type: String, version: u16 },
    #[error("payload of {event_type} is not valid JSON for its schema: {source}")]
    Payload {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A family of events (one enum per category) that can travel through the log.
pub trait DomainEvent: Sized {
    /// The event's name, part of the public contract.
    fn event_type(&self) -> &'static str;

    /// The schema version written for new events of this type.
    fn schema_version(&self) -> u16;

    /// Serializes the payload alone; the type travels beside it in the envelope.
    fn encode_payload(&self) -> Vec<u8>;

    /// Decodes a stored payload, upcasting older schema versions.
    ///
    /// # Errors
    /// Fails on an unknown type, an unknown version or a payload that does not match.
    fn decode(
        event_type: &str,
        schema_version: u16,
        payload: &[u8],
    ) -> Result<Self, EventCodecError>;

    /// Wraps the event in an envelope with the given id and metadata.
    fn to_new_event(&self, event_id: Uuid, metadata: Metadata) -> NewEvent {
        NewEvent {
            event_id,
            event_type: self.event_type().to_owned(),
            schema_version: self.schema_version(),
            metadata,
            payload: self.encode_payload(),
        }
    }

    /// Decodes a stored record.
    ///
    /// # Errors
    /// As [`DomainEvent::decode`].
    fn from_recorded(record: &RecordedEvent) -> Result<Self, EventCodecError> {
        Self::decode(&record.event_type, record.schema_version, &record.payload)
    }
}

/// Declares an enum of events, one variant per payload struct of the same name, and implements
/// [`DomainEvent`] for it with every payload at schema version 1.
#[macro_export]
macro_rules! event_family {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize)]
        #[serde(tag = "event_type", content = "payload")]
        $vis enum $name {
            $($variant($variant)),+
        }

        impl $name {
            /// Every event type name of this family.
            pub const EVENT_TYPES: &'static [&'static str] = &[$(stringify!($variant)),+];
        }

        impl $crate::codec::DomainEvent for $name {
            fn event_type(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => stringify!($variant)),+
                }
            }

            fn schema_version(&self) -> u16 {
                1
            }

            fn encode_payload(&self) -> Vec<u8> {
                // Serializing plain structs of strings, numbers and maps cannot fail.
                let encoded = match self {
                    $($name::$variant(p) => serde_json::to_vec(p)),+
                };
                encoded.unwrap_or_default()
            }

            fn decode(
                event_type: &str,
                schema_version: u16,
                payload: &[u8],
            ) -> Result<Self, $crate::codec::EventCodecError> {
                if schema_version != 1 {
                    return Err($crate::codec::EventCodecError::UnknownVersion {
                        event_type: event_type.to_owned(),
                        version: schema_version,
                    });
                }
                match event_type {
                    $(stringify!($variant) => serde_json::from_slice(payload)
                        .map($name::$variant)
                        .map_err(|source| $crate::codec::EventCodecError::Payload {
                            event_type: event_type.to_owned(),
                            source,
                        }),)+
                    other => Err($crate::codec::EventCodecError::UnknownType {
                        event_type: other.to_owned(),
                    }),
                }
            }
        }

        $(impl From<$variant> for $name {
            fn from(payload: $variant) -> Self {
                $name::$variant(payload)
            }
        })+
    };
}

/// Derives a deterministic event id from a command id and the event's index within the command,
/// so that a retried command produces the same ids.
pub fn derive_event_id(command_id: Uuid, index: u32) -> Uuid {
    Uuid::new_v5(&command_id, &index.to_be_bytes())
}
