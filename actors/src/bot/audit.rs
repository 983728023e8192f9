//! Checks on a bot's recorded order path that audits and tests run over the log.

use std::collections::HashSet;

use keyward_events::bot::{BotEvent, Verdict};
use keyward_events::{DomainEvent, EventCodecError, RecordedEvent};
use uuid::Uuid;

/// A recorded order that broke the order path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderPathViolation {
    #[error(
        "OrderSubmitted at position {position} for intent {intent_id} has no earlier approving OrderRiskChecked"
    )]
    SubmittedWithoutApproval { position: u64, intent_id: Uuid },
    #[error("OrderSubmitted at position {position} repeats intent {intent_id}")]
    SubmittedTwice { position: u64, intent_id: Uuid },
    #[error("event at position {position} does not decode: {message}")]
    Undecodable { position: u64, message: String },
}

/// Checks that every `OrderSubmitted` in `records` (one bot stream, or the whole log, in
/// position order) follows an approving `OrderRiskChecked` of the same intent, and that no
/// intent is submitted twice.
///
/// # Errors
/// Returns the first violation.
pub fn check_order_path(records: &[RecordedEvent]) -> Result<(), OrderPathViolation> {
    let mut approved = HashSet::new();
    let mut submitted = HashSet::new();
    for record in records {
        if !record.stream.as_str().starts_with("bot-") {
            continue;
        }
        let event = BotEvent::from_recorded(record).map_err(|err: EventCodecError| {
            OrderPathViolation::Undecodable {
                position: record.position,
                message: err.to_string(),
            }
        })?;
        match event {
            BotEvent::OrderRiskChecked(checked) if checked.verdict == Verdict::Approved => {
                approved.insert(checked.intent.intent_id);
            }
            BotEvent::OrderSubmitted(order) => {
                let position = record.position;
                let intent_id = order.intent_id;
                if !approved.contains(&intent_id) {
                    return Err(OrderPathViolation::SubmittedWithoutApproval {
                        position,
                        intent_id,
                    });
                }
                if !submitted.insert(intent_id) {
                    return Err(OrderPathViolation::SubmittedTwice {
                        position,
                        intent_id,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}
