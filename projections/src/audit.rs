//! The audit trail: per account, one readable line per event with who, what, when, and from
//! which session and address.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use keyward_events::{Category, RecordedEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::Projection;

/// Longest summary kept for one event, in characters.
const MAX_SUMMARY_CHARS: usize = 240;

/// One event of the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditLine {
    pub position: u64,
    pub recorded_at: DateTime<Utc>,
    pub stream: String,
    pub event_type: String,
    /// The account the event was recorded for.
    pub account_id: Uuid,
    /// Public id of the session or API token that issued the command, if a user did.
    pub session_id: Option<Uuid>,
    pub source_address: Option<String>,
    /// The event type and the payload's top-level values, such as
    /// `KeyAdded exchange=binance label=main`.
    pub summary: String,
}

impl AuditLine {
    /// The line as text: time, who, from where, what.
    pub fn to_text(&self) -> String {
        let session = self
            .session_id
            .map_or_else(|| "-".to_owned(), |id| id.to_string());
        let address = self.source_address.as_deref().unwrap_or("-");
        format!(
            "{} #{} account={} session={session} address={address} {} {}",
            self.recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.position,
            self.account_id,
            self.stream,
            self.summary
        )
    }
}

/// The audit trail read model.
// NOTE: every line stays in memory, about 300 bytes per event; a long-lived deployment will
// want the lines in the store beside the log instead.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditTrail {
    pub lines: BTreeMap<Uuid, Vec<AuditLine>>,
    /// The account each key and bot stream belongs to, learnt from its first event.
    owners: HashMap<String, Uuid>,
    pub position: u64,
}

impl AuditTrail {
    /// The lines of one account, oldest first.
    pub fn lines_of(&self, account_id: Uuid) -> &[AuditLine] {
        self.lines.get(&account_id).map_or(&[], Vec::as_slice)
    }

    /// Applies one stored event; events of no known account are skipped.
    pub fn apply(&mut self, record: &RecordedEvent) {
        self.position = record.position;
        let payload: Value = serde_json::from_slice(&record.payload).unwrap_or(Value::Null);
        let metadata = record.parsed_metadata();
        let stream = record.stream.as_str();
        if let Some(owner) = payload_account(&payload) {
            self.owners.entry(stream.to_owned()).or_insert(owner);
        }
        let account = match record.stream.category() {
            Category::Account => Some(record.stream.id()),
            _ => metadata
                .account_id
                .or_else(|| self.owners.get(stream).copied()),
        };
        let Some(account_id) = account else {
            return;
        };
        let line = AuditLine {
            position: record.position,
            recorded_at: record.recorded_at(),
            stream: stream.to_owned(),
            event_type: record.event_type.clone(),
            account_id,
            session_id: metadata.session_id,
            source_address: metadata.source_address,
            summary: summarize(&record.event_type, &payload),
        };
        self.lines.entry(account_id).or_default().push(line);
    }
}

impl Projection for AuditTrail {
    const NAME: &'static str = "audit";

    type Decoded = ();

    fn decode(_record: &RecordedEvent) {}

    fn apply_decoded(&mut self, record: &RecordedEvent, _decoded: ()) {
        AuditTrail::apply(self, record);
    }
}

fn payload_account(payload: &Value) -> Option<Uuid> {
    payload.get("account_id")?.as_str()?.parse().ok()
}

/// The event type followed by the payload's top-level scalar values. Payloads never hold a
/// secret, and vault references (`*_ref`) are left out as noise for a reader.
pub fn summarize(event_type: &str, payload: &Value) -> String {
    let mut summary = event_type.to_owned();
    if let Value::Object(fields) = payload {
        for (name, value) in fields {
            if name.ends_with("_ref") || name == "account_id" {
                continue;
            }
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            summary.push_str(&format!(" {name}={text}"));
        }
    }
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        summary = summary.chars().take(MAX_SUMMARY_CHARS - 1).collect();
        summary.push('…');
    }
    summary
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn summary_lists_scalars_without_references() {
        let payload = json!({"exchange": "binance", "label": "main", "vault_ref": "x",
            "permissions": {"read": true}, "attempt": 2});
        assert_eq!(
            summarize("KeyAdded", &payload),
            "KeyAdded attempt=2 exchange=binance label=main"
        );
    }

    #[test]
    fn summary_is_capped() {
        let payload = json!({"label": "x".repeat(1000)});
        assert_eq!(
            summarize("KeyAdded", &payload).chars().count(),
            MAX_SUMMARY_CHARS
        );
    }
}
