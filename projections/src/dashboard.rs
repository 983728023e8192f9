//! The dashboard: per account, keys with status, permissions and last probe; bots with their
//! recent risk verdicts and backtest results; open sessions.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use keyward_actors::key::KeyState;
use keyward_events::account::{AccountEvent, SessionStarted, SessionTransport};
use keyward_events::bot::{
    BacktestCompleted, BotEvent, BotMode, OrderFilled, OrderRiskChecked, Side, Verdict,
};
use keyward_events::key::KeyEvent;
use keyward_events::{Category, DomainEvent, Exchange, RecordedEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Risk verdicts kept per bot.
pub const RECENT_VERDICTS: usize = 10;

/// One key as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    /// Warnings about a verified key, such as `no_ip_allowlist`.
    pub flags: Vec<String>,
}

/// A backtest result as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BacktestSummary {
    pub backtest_id: Uuid,
    pub config_hash: String,
    pub data_name: String,
    pub bars: u64,
    pub trades: u64,
    pub final_equity: f64,
    pub total_return: f64,
    pub max_drawdown: f64,
    pub completed_at: DateTime<Utc>,
}

impl From<&BacktestCompleted> for BacktestSummary {
    fn from(done: &BacktestCompleted) -> Self {
        BacktestSummary {
            backtest_id: done.backtest_id,
            config_hash: done.config_hash.clone(),
            data_name: done.data_name.clone(),
            bars: done.bars,
            trades: done.trades,
            final_equity: done.final_equity,
            total_return: done.total_return,
            max_drawdown: done.max_drawdown,
            completed_at: done.completed_at,
        }
    }
}

/// A risk verdict as the dashboard shows it: the intent, the outcome and the failed rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictSummary {
    pub position: u64,
    pub intent_id: Uuid,
    pub verdict: Verdict,
    /// Names of the rules that failed, enforced or not.
    pub failed_rules: Vec<String>,
    pub checked_at: DateTime<Utc>,
}

impl VerdictSummary {
    fn new(position: u64, checked: &OrderRiskChecked) -> Self {
        VerdictSummary {
            position,
            intent_id: checked.intent.intent_id,
            verdict: checked.verdict,
            failed_rules: checked
                .rules
                .iter()
                .filter(|rule| !rule.passed)
                .map(|rule| rule.rule.clone())
                .collect(),
            checked_at: checked.checked_at,
        }
    }

    /// Reads a summary from an `OrderRiskChecked` payload of schema version 1.
    fn from_payload(position: u64, payload: &[u8]) -> Option<Self> {
        let fields = serde_json::from_slice::<VerdictFields<'_>>(payload).ok()?;
        Some(VerdictSummary {
            position,
            intent_id: fields.intent.intent_id,
            verdict: fields.verdict,
            failed_rules: fields
                .rules
                .into_iter()
                .filter(|rule| !rule.passed)
                .map(|rule| rule.rule.into_owned())
                .collect(),
            checked_at: fields.checked_at,
        })
    }
}

/// One of a bot's recent verdicts. Most verdicts are pushed out by newer ones before anyone
/// reads them, so a verdict of the current schema is kept as its stored payload and decoded
/// when read.
#[derive(Clone, Debug)]
enum RecentVerdict {
    Stored { position: u64, payload: Box<[u8]> },
    Decoded(VerdictSummary),
}

impl RecentVerdict {
    /// The summary, or `None` for a stored payload that does not decode.
    fn summary(&self) -> Option<VerdictSummary> {
        match self {
            RecentVerdict::Stored { position, payload } => {
                VerdictSummary::from_payload(*position, payload)
            }
            RecentVerdict::Decoded(summary) => Some(summary.clone()),
        }
    }
}

/// A bot's latest verdicts, newest last, at most [`RECENT_VERDICTS`]. Serialized, compared and
/// read as [`VerdictSummary`] values; a stored payload that does not decode is left out.
#[derive(Clone, Debug, Default)]
pub struct RecentVerdicts(VecDeque<RecentVerdict>);

impl RecentVerdicts {
    fn push(&mut self, verdict: RecentVerdict) {
        if self.0.len() == RECENT_VERDICTS {
            self.0.pop_front();
        }
        self.0.push_back(verdict);
    }

    /// The verdicts, oldest first.
    pub fn summaries(&self) -> Vec<VerdictSummary> {
        self.0.iter().filter_map(RecentVerdict::summary).collect()
    }
}

impl PartialEq for RecentVerdicts {
    fn eq(&self, other: &Self) -> bool {
        self.summaries() == other.summaries()
    }
}

impl Serialize for RecentVerdicts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().filter_map(RecentVerdict::summary))
    }
}

impl<'de> Deserialize<'de> for RecentVerdicts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let summaries = Vec::<VerdictSummary>::deserialize(deserializer)?;
        let mut recent = RecentVerdicts::default();
        for summary in summaries {
            recent.push(RecentVerdict::Decoded(summary));
        }
        Ok(recent)
    }
}

/// Where a bot stands in its lifecycle, as the dashboard shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Created,
    Configured,
    Active,
    Paused,
    Stopped,
}

/// One bot as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BotView {
    pub bot_id: Uuid,
    pub account_id: Option<Uuid>,
    pub label: String,
    pub exchange: Exchange,
    pub symbol: String,
    pub config_hash: Option<String>,
    pub status: RunStatus,
    /// Mode of the last activation; before any, the mode of the latest risk verdict.
    pub mode: Option<BotMode>,
    /// Signed position: positive long, negative short, zero flat.
    pub position: Decimal,
    /// Average entry price of the open position; `None` when flat.
    pub entry_price: Option<Decimal>,
    /// Profit or loss of the quantity closed by fills so far, fees not included.
    pub realized_pnl: Decimal,
    /// Fees of every fill so far.
    pub fees_paid: Decimal,
    pub fills: u64,
    pub risk_checks: u64,
    /// The latest verdicts, newest last, at most [`RECENT_VERDICTS`].
    pub recent_verdicts: RecentVerdicts,
    pub backtests: Vec<BacktestSummary>,
}

impl BotView {
    /// Books one fill: the realised result of the quantity it closes, its fee, and the
    /// position it leaves (a later `PositionChanged` states the position authoritatively).
    fn apply_fill(&mut self, filled: &OrderFilled) {
        self.fills += 1;
        self.fees_paid += filled.fee;
        let signed = match filled.side {
            Side::Buy => filled.quantity,
            Side::Sell => -filled.quantity,
        };
        let before = self.position;
        let after = before + signed;
        let reduces = !before.is_zero() && before.is_sign_positive() != signed.is_sign_positive();
        if reduces && let Some(entry) = self.entry_price {
            let closed = filled.quantity.min(before.abs());
            let per_unit = if before.is_sign_positive() {
                filled.price - entry
            } else {
                entry - filled.price
            };
            self.realized_pnl += closed * per_unit;
        }
        self.entry_price = if after.is_zero() {
            None
        } else if reduces && after.is_sign_positive() == before.is_sign_positive() {
            self.entry_price
        } else if reduces || before.is_zero() {
            // Opened, or reversed through flat: the rest is a new position at this price.
            Some(filled.price)
        } else {
            // Added to the position: the average of the old entry and this fill.
            self.entry_price
                .map(|entry| (entry * before.abs() + filled.price * filled.quantity) / after.abs())
        };
        self.position = after;
    }

    fn push_verdict(&mut self, verdict: RecentVerdict) {
        self.risk_checks += 1;
        self.recent_verdicts.push(verdict);
    }
}

/// One stored event decoded for the dashboard. Decoding needs no dashboard state, so a
/// rebuild decodes on several threads and applies in position order.
#[derive(Debug)]
pub enum Decoded {
    Key(KeyEvent),
    Bot(BotEvent),
    /// A risk verdict of the current schema, kept undecoded: see [`RecentVerdicts`].
    Verdict,
    Account(AccountEvent),
    /// An event the dashboard does not show, left undecoded.
    NotShown,
    Undecodable,
}

impl Decoded {
    /// Decodes what the dashboard shows of one stored event.
    pub fn of(record: &RecordedEvent) -> Self {
        // Verdicts are most of a busy log and most are never shown, so they are decoded only
        // when read; account events other than session starts and ends are not shown at all.
        let decoded = match (record.stream.category(), record.event_type.as_str()) {
            (Category::Bot, "OrderRiskChecked") if record.schema_version == 1 => {
                Ok(Decoded::Verdict)
            }
            (Category::Key, _) => KeyEvent::from_recorded(record)
                .map(Decoded::Key)
                .map_err(drop),
            (Category::Bot, _) => BotEvent::from_recorded(record)
                .map(Decoded::Bot)
                .map_err(drop),
            (Category::Account, "SessionStarted" | "SessionTerminated") => {
                AccountEvent::from_recorded(record)
                    .map(Decoded::Account)
                    .map_err(drop)
            }
            _ => Ok(Decoded::NotShown),
        };
        decoded.unwrap_or(Decoded::Undecodable)
    }
}

/// The fields of an `OrderRiskChecked` payload (schema version 1) that the dashboard shows.
#[derive(Deserialize)]
struct VerdictFields<'a> {
    intent: IntentFields,
    verdict: Verdict,
    #[serde(borrow)]
    rules: Vec<RuleFields<'a>>,
    checked_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct IntentFields {
    intent_id: Uuid,
}

#[derive(Deserialize)]
struct RuleFields<'a> {
    #[serde(borrow)]
    rule: std::borrow::Cow<'a, str>,
    passed: bool,
}

/// An open session as the dashboard shows it; never its token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub session_id: Uuid,
    pub account_id: Uuid,
    pub transport: SessionTransport,
    pub device: String,
    pub address: Option<String>,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl SessionView {
    fn new(account_id: Uuid, started: &SessionStarted) -> Self {
        SessionView {
            session_id: started.session_id,
            account_id,
            transport: started.transport,
            device: started.device.clone(),
            address: started.address.clone(),
            started_at: started.started_at,
            expires_at: started.expires_at,
        }
    }
}

/// The dashboard read model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub keys: BTreeMap<Uuid, KeyView>,
    pub bots: BTreeMap<Uuid, BotView>,
    /// Sessions started and not yet terminated. Sessions that only timed out stay listed
    /// until their account records the end.
    pub sessions: BTreeMap<Uuid, SessionView>,
    /// Position of the last event applied.
    pub position: u64,
    /// Shown events that could not be decoded, counted rather than failing the projection.
    pub undecodable: u64,
}

impl Dashboard {
    /// The keys of one account.
    pub fn keys_of(&self, account_id: Uuid) -> impl Iterator<Item = &KeyView> {
        self.keys
            .values()
            .filter(move |view| view.state.account_id == Some(account_id))
    }

    /// One key, if it belongs to `account_id`.
    pub fn key_of(&self, account_id: Uuid, key_id: Uuid) -> Option<&KeyView> {
        self.keys
            .get(&key_id)
            .filter(|view| view.state.account_id == Some(account_id))
    }

    /// The bots of one account.
    pub fn bots_of(&self, account_id: Uuid) -> impl Iterator<Item = &BotView> {
        self.bots
            .values()
            .filter(move |view| view.account_id == Some(account_id))
    }

    /// One bot, if it belongs to `account_id`.
    pub fn bot_of(&self, account_id: Uuid, bot_id: Uuid) -> Option<&BotView> {
        self.bots
            .get(&bot_id)
            .filter(|view| view.account_id == Some(account_id))
    }

    /// The open sessions of one account.
    pub fn sessions_of(&self, account_id: Uuid) -> impl Iterator<Item = &SessionView> {
        self.sessions
            .values()
            .filter(move |view| view.account_id == account_id)
    }

    /// Applies one stored event.
    pub fn apply(&mut self, record: &RecordedEvent) {
        self.apply_decoded(record, Decoded::of(record));
    }

    /// Applies one stored event that [`Decoded::of`] already decoded.
    pub fn apply_decoded(&mut self, record: &RecordedEvent, decoded: Decoded) {
        self.position = record.position;
        match decoded {
            Decoded::Key(event) => self.apply_key(record, &event),
            Decoded::Bot(event) => self.apply_bot(record, &event),
            Decoded::Verdict => self.apply_verdict(record),
            Decoded::Account(event) => self.apply_account(record, &event),
            Decoded::NotShown => {}
            Decoded::Undecodable => self.undecodable += 1,
        }
    }

    fn apply_key(&mut self, record: &RecordedEvent, event: &KeyEvent) {
        let key_id = record.stream.id();
        if let KeyEvent::KeyAdded(added) = event {
            self.keys.insert(
                key_id,
                KeyView {
                    state: KeyState::from_added(added),
                    created_at: added.added_at,
                    flags: Vec::new(),
                },
            );
            return;
        }
        let Some(view) = self.keys.get_mut(&key_id) else {
            return;
        };
        view.state.apply(event, record.version);
        match event {
            KeyEvent::KeyFlagged(flagged) if !view.flags.contains(&flagged.flag) => {
                view.flags.push(flagged.flag.clone());
            }
            KeyEvent::KeyProbed(_) | KeyEvent::KeyRotated(_) => view.flags.clear(),
            _ => {}
        }
    }

    fn apply_bot(&mut self, record: &RecordedEvent, event: &BotEvent) {
        let bot_id = record.stream.id();
        if let BotEvent::BotCreated(created) = event {
            self.bots.insert(
                bot_id,
                BotView {
                    bot_id,
                    account_id: created.account_id,
                    label: created.label.clone(),
                    exchange: created.exchange,
                    symbol: created.symbol.clone(),
                    config_hash: None,
                    status: RunStatus::Created,
                    mode: None,
                    position: Decimal::ZERO,
                    entry_price: None,
                    realized_pnl: Decimal::ZERO,
                    fees_paid: Decimal::ZERO,
                    fills: 0,
                    risk_checks: 0,
                    recent_verdicts: RecentVerdicts::default(),
                    backtests: Vec::new(),
                },
            );
            return;
        }
        let Some(view) = self.bots.get_mut(&bot_id) else {
            return;
        };
        match event {
            BotEvent::BotConfigured(configured) => {
                view.config_hash = Some(configured.config_hash.clone());
                if view.status == RunStatus::Created {
                    view.status = RunStatus::Configured;
                }
            }
            BotEvent::BotActivated(activated) => {
                view.status = RunStatus::Active;
                view.mode = Some(activated.mode);
            }
            BotEvent::BotPaused(_) => view.status = RunStatus::Paused,
            BotEvent::BotStopped(_) => view.status = RunStatus::Stopped,
            BotEvent::OrderFilled(filled) => view.apply_fill(filled),
            BotEvent::PositionChanged(changed) => {
                view.position = changed.quantity;
                view.entry_price = changed.entry_price.filter(|_| !changed.quantity.is_zero());
            }
            BotEvent::PositionReconciled(reconciled)
                if reconciled.exchange_quantity != view.position =>
            {
                view.position = reconciled.exchange_quantity;
                // The exchange's entry price is not recorded; a position found on the
                // exchange shows none rather than a stale one.
                view.entry_price = None;
            }
            BotEvent::OrderRiskChecked(checked) => {
                let summary = VerdictSummary::new(record.position, checked);
                view.push_verdict(RecentVerdict::Decoded(summary));
            }
            BotEvent::BacktestCompleted(done) => view.backtests.push(done.into()),
            _ => {}
        }
    }

    fn apply_verdict(&mut self, record: &RecordedEvent) {
        let Some(view) = self.bots.get_mut(&record.stream.id()) else {
            return;
        };
        view.push_verdict(RecentVerdict::Stored {
            position: record.position,
            payload: record.payload.as_slice().into(),
        });
    }

    fn apply_account(&mut self, record: &RecordedEvent, event: &AccountEvent) {
        let account_id = record.stream.id();
        match event {
            AccountEvent::SessionStarted(started) => {
                self.sessions
                    .insert(started.session_id, SessionView::new(account_id, started));
            }
            AccountEvent::SessionTerminated(ended) => {
                self.sessions.remove(&ended.session_id);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use keyward_events::bot::BotEvent;
    use keyward_events::{DomainEvent, NewEvent, StreamName};

    use super::*;
    use crate::synthetic::{History, Step};

    fn recorded(history: History) -> Vec<RecordedEvent> {
        recorded_events(history.events)
    }

    fn recorded_events(events: Vec<(StreamName, NewEvent)>) -> Vec<RecordedEvent> {
        events
            .into_iter()
            .enumerate()
            .map(|(index, (stream, event))| RecordedEvent {
                position: index as u64 + 1,
                stream,
                version: 0,
                event_id: event.event_id,
                event_type: event.event_type,
                schema_version: event.schema_version,
                recorded_at_us: 0,
                metadata: serde_json::to_vec(&event.metadata).unwrap(),
                payload: event.payload,
                hash: [0; 32],
            })
            .collect()
    }

    #[test]
    fn narrow_verdict_matches_full_decode() {
        let mut history = History::new(3, 1);
        history.push(Step::CreateBot);
        history.push(Step::CheckRisk {
            bot: 0,
            approved: false,
        });
        let records = recorded(history);
        let mut dashboard = Dashboard::default();
        for record in &records {
            dashboard.apply(record);
        }

        let verdict = &records[1];
        let BotEvent::OrderRiskChecked(checked) = BotEvent::from_recorded(verdict).unwrap() else {
            panic!("not a verdict");
        };
        let bot = &dashboard.bots[&verdict.stream.id()];
        assert_eq!(dashboard.undecodable, 0);
        assert_eq!(bot.risk_checks, 1);
        let summaries = bot.recent_verdicts.summaries();
        assert_eq!(summaries, [VerdictSummary::new(verdict.position, &checked)]);
        assert_eq!(summaries[0].failed_rules, ["stop_loss_present"]);
    }

    fn fill(side: Side, quantity: i64, price: i64) -> OrderFilled {
        OrderFilled {
            intent_id: Uuid::nil(),
            client_order_id: String::new(),
            side,
            quantity: Decimal::from(quantity),
            price: Decimal::from(price),
            fee: Decimal::ONE,
            complete: true,
            filled_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn fills_book_realised_pnl_through_a_reversal() {
        let mut history = History::new(5, 1);
        history.push(Step::CreateBot);
        let records = recorded(history);
        let mut dashboard = Dashboard::default();
        dashboard.apply(&records[0]);
        let bot = dashboard.bots.values_mut().next().unwrap();

        bot.apply_fill(&fill(Side::Buy, 2, 100));
        assert_eq!(
            (bot.position, bot.entry_price),
            (Decimal::from(2), Some(Decimal::from(100)))
        );
        bot.apply_fill(&fill(Side::Buy, 2, 110));
        assert_eq!(bot.entry_price, Some(Decimal::from(105)));
        bot.apply_fill(&fill(Side::Sell, 1, 115));
        assert_eq!(bot.realized_pnl, Decimal::from(10));
        assert_eq!(bot.entry_price, Some(Decimal::from(105)));
        // Closes the remaining 3 at a loss of 10 each and opens a short of 2 at 95.
        bot.apply_fill(&fill(Side::Sell, 5, 95));
        assert_eq!(bot.realized_pnl, Decimal::from(-20));
        assert_eq!(
            (bot.position, bot.entry_price),
            (Decimal::from(-2), Some(Decimal::from(95)))
        );
        bot.apply_fill(&fill(Side::Buy, 2, 90));
        assert_eq!(bot.realized_pnl, Decimal::from(-10));
        assert_eq!((bot.position, bot.entry_price), (Decimal::ZERO, None));
        assert_eq!((bot.fills, bot.fees_paid), (5, Decimal::from(5)));
    }

    #[test]
    fn lifecycle_sets_status_and_mode() {
        let mut history = History::new(9, 1);
        history.push(Step::CreateBot);
        history.push(Step::ConfigureBot(0));
        history.push(Step::ActivateBot(1));
        history.push(Step::Fill { bot: 0, buy: true });
        let mut dashboard = Dashboard::default();
        let mut statuses = Vec::new();
        for record in recorded(history) {
            dashboard.apply(&record);
            let bot = dashboard.bots.values().next().unwrap();
            statuses.push((bot.status, bot.mode));
        }
        assert_eq!(
            statuses,
            [
                (RunStatus::Created, None),
                (RunStatus::Configured, None),
                (RunStatus::Active, Some(BotMode::Live)),
                (RunStatus::Active, Some(BotMode::Live)),
                (RunStatus::Active, Some(BotMode::Live)),
            ]
        );

        let bot = dashboard.bots.values().next().unwrap();
        assert_eq!(bot.position, Decimal::new(1, 2));
        assert_eq!(bot.entry_price, Some(Decimal::new(6_500_000, 2)));

        let paused = History::of(9, 1, &[Step::CreateBot, Step::PauseBot(0)]);
        let mut dashboard = Dashboard::default();
        for record in recorded_events(paused) {
            dashboard.apply(&record);
        }
        assert_eq!(
            dashboard.bots.values().next().unwrap().status,
            RunStatus::Paused
        );
    }
}
