//! The bot feed: orders, fills, position, PnL and risk verdicts of each bot, as messages for
//! the live websocket feed, and the latest of them per bot as a read model.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use keyward_events::{Category, RecordedEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::Projection;

/// Bot event types that the feed carries.
pub const FEED_EVENT_TYPES: &[&str] = &[
    "BotConfigured",
    "BotActivated",
    "BotPaused",
    "BotStopped",
    "OrderRiskChecked",
    "OrderSubmitted",
    "OrderAcknowledged",
    "OrderFilled",
    "OrderCancelled",
    "OrderRejected",
    "PositionChanged",
    "PositionReconciled",
    "RiskLimitBreached",
    "PaperRunCompleted",
    "BacktestCompleted",
];

/// Feed messages kept per bot in the read model.
pub const RECENT_MESSAGES: usize = 50;

/// One feed message: a bot event with its global position, from which a client resumes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedMessage {
    pub position: u64,
    pub bot_id: Uuid,
    pub event_type: String,
    pub recorded_at: DateTime<Utc>,
    /// The event's payload as stored.
    pub payload: Value,
}

impl FeedMessage {
    /// The feed message of a stored event, or `None` when the feed does not carry it.
    pub fn from_record(record: &RecordedEvent) -> Option<Self> {
        if record.stream.category() != Category::Bot
            || !FEED_EVENT_TYPES.contains(&record.event_type.as_str())
        {
            return None;
        }
        Some(FeedMessage {
            position: record.position,
            bot_id: record.stream.id(),
            event_type: record.event_type.clone(),
            recorded_at: record.recorded_at(),
            payload: serde_json::from_slice(&record.payload).unwrap_or(Value::Null),
        })
    }
}

/// The latest feed messages of one bot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BotFeedView {
    pub account_id: Option<Uuid>,
    /// Feed messages of this bot so far, including those no longer kept.
    pub messages: u64,
    /// The latest messages, newest last, at most [`RECENT_MESSAGES`].
    pub recent: VecDeque<FeedMessage>,
}

/// The bot feed read model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BotFeed {
    pub bots: BTreeMap<Uuid, BotFeedView>,
    pub position: u64,
}

impl BotFeed {
    /// The account a bot belongs to, if the feed has seen its creation.
    pub fn owner(&self, bot_id: Uuid) -> Option<Uuid> {
        self.bots.get(&bot_id).and_then(|view| view.account_id)
    }

    /// Applies one stored event.
    pub fn apply(&mut self, record: &RecordedEvent) {
        self.position = record.position;
        if record.stream.category() != Category::Bot {
            return;
        }
        let bot_id = record.stream.id();
        if record.event_type == "BotCreated" {
            let payload: Value = serde_json::from_slice(&record.payload).unwrap_or(Value::Null);
            let account_id = payload
                .get("account_id")
                .and_then(Value::as_str)
                .and_then(|id| id.parse().ok());
            self.bots.entry(bot_id).or_default().account_id = account_id;
            return;
        }
        let Some(message) = FeedMessage::from_record(record) else {
            return;
        };
        let view = self.bots.entry(bot_id).or_default();
        view.messages += 1;
        if view.recent.len() == RECENT_MESSAGES {
            view.recent.pop_front();
        }
        view.recent.push_back(message);
    }
}

impl Projection for BotFeed {
    const NAME: &'static str = "feed";

    type Decoded = ();

    fn decode(_record: &RecordedEvent) {}

    fn apply_decoded(&mut self, record: &RecordedEvent, _decoded: ()) {
        BotFeed::apply(self, record);
    }
}
