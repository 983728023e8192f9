//! Stored samples of every released event version stay decodable: a payload written by an
//! older release must still decode (upcast where its schema changed) in this one.
//!
//! `tests/fixtures/events/v1.json` holds one sample per event type as schema version 1 wrote
//! it. The samples are never regenerated: a new schema version adds a new file beside it, and a
//! new event type adds its sample.

use keyward_events::account::AccountEvent;
use keyward_events::bot::BotEvent;
use keyward_events::key::KeyEvent;
use keyward_events::vault::VaultEvent;
use keyward_events::{DomainEvent, EventCodecError};
use serde::Deserialize;

#[derive(Deserialize)]
struct Sample {
    event_type: String,
    schema_version: u16,
    payload: serde_json::Value,
}

const SAMPLE_FILES: &[&str] = &["tests/fixtures/events/v1.json"];

fn samples() -> Vec<Sample> {
    SAMPLE_FILES
        .iter()
        .flat_map(|path| {
            let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&full).unwrap();
            serde_json::from_str::<Vec<Sample>>(&text).unwrap()
        })
        .collect()
}

/// Every event family with its type names, and a decoder that re-encodes what it decoded.
type Decoder = fn(&str, u16, &[u8]) -> Result<Vec<u8>, EventCodecError>;

fn families() -> Vec<(&'static str, &'static [&'static str], Decoder)> {
    vec![
        ("key", KeyEvent::EVENT_TYPES, |t, v, p| {
            KeyEvent::decode(t, v, p).map(|e| e.encode_payload())
        }),
        ("bot", BotEvent::EVENT_TYPES, |t, v, p| {
            BotEvent::decode(t, v, p).map(|e| e.encode_payload())
        }),
        ("account", AccountEvent::EVENT_TYPES, |t, v, p| {
            AccountEvent::decode(t, v, p).map(|e| e.encode_payload())
        }),
        ("vault", VaultEvent::EVENT_TYPES, |t, v, p| {
            VaultEvent::decode(t, v, p).map(|e| e.encode_payload())
        }),
    ]
}

#[test]
fn every_sample_decodes() {
    let families = families();
    for sample in samples() {
        let (_, _, decode) = families
            .iter()
            .find(|(_, types, _)| types.contains(&sample.event_type.as_str()))
            .unwrap_or_else(|| panic!("no event family has type {}", sample.event_type));
        let payload = serde_json::to_vec(&sample.payload).unwrap();
        let encoded = decode(&sample.event_type, sample.schema_version, &payload)
            .unwrap_or_else(|e| panic!("sample of {} no longer decodes: {e}", sample.event_type));
        decode(&sample.event_type, sample.schema_version, &encoded).unwrap_or_else(|e| {
            panic!("{} does not decode what it encodes: {e}", sample.event_type)
        });
    }
}

#[test]
fn every_event_type_has_a_sample() {
    let sampled: Vec<String> = samples().into_iter().map(|s| s.event_type).collect();
    for (family, types, _) in families() {
        for event_type in types {
            assert!(
                sampled.iter().any(|s| s == event_type),
                "{family} event {event_type} has no stored sample; add one to {}",
                SAMPLE_FILES[SAMPLE_FILES.len() - 1]
            );
        }
    }
}
