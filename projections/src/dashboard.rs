//! The dashboard: per account, keys with status, permissions and last probe; bots with their
//! recent risk verdicts and backtest results; open sessions.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use keyward_actors::key::KeyState;
use keyward_events::account::{AccountEvent, SessionStarted, SessionTransport};
use keyward_events::bot::{BacktestCompleted, BotEvent, BotMode, OrderRiskChecked, Verdict};
use keyward_events::key::KeyEvent;
use keyward_events::{Category, DomainEvent, Exchange, RecordedEvent};
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
    /// Mode of the bot's latest risk verdict.
    // TODO: follow activation, pause and stop, and show position and PnL, once bot streams
    // record those events.
    pub mode: Option<BotMode>,
    pub risk_checks: u64,
    /// The latest verdicts, newest last, at most [`RECENT_VERDICTS`].
    pub recent_verdicts: VecDeque<VerdictSummary>,
    pub backtests: Vec<BacktestSummary>,
}

impl BotView {
    fn push_verdict(&mut self, mode: BotMode, summary: VerdictSummary) {
        self.risk_checks += 1;
        self.mode = Some(mode);
        if self.recent_verdicts.len() == RECENT_VERDICTS {
            self.recent_verdicts.pop_front();
        }
        self.recent_verdicts.push_back(summary);
    }
}

/// One stored event decoded for the dashboard. Decoding needs no dashboard state, so a
/// rebuild decodes on several threads and applies in position order.
#[derive(Debug)]
pub enum Decoded {
    Key(KeyEvent),
    Bot(BotEvent),
    Verdict(Box<DecodedVerdict>),
    Account(AccountEvent),
    /// An event the dashboard does not show, left undecoded.
    NotShown,
    Undecodable,
}

/// The parts of a risk verdict the dashboard shows.
#[derive(Debug)]
pub struct DecodedVerdict {
    bot_id: Uuid,
    intent_id: Uuid,
    verdict: Verdict,
    failed_rules: Vec<String>,
    mode: BotMode,
    checked_at: DateTime<Utc>,
}

impl Decoded {
    /// Decodes what the dashboard shows of one stored event.
    pub fn of(record: &RecordedEvent) -> Self {
        // Verdicts are most of a busy log, so they are read through a narrow view of their
        // payload; account events other than session starts and ends are not shown at all.
        let decoded = match (record.stream.category(), record.event_type.as_str()) {
            (Category::Bot, "OrderRiskChecked") if record.schema_version == 1 => {
                serde_json::from_slice::<VerdictFields<'_>>(&record.payload)
                    .map(|fields| Decoded::Verdict(Box::new(fields.into_decoded(record))))
                    .map_err(drop)
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
    mode: BotMode,
    checked_at: DateTime<Utc>,
}

impl VerdictFields<'_> {
    fn into_decoded(self, record: &RecordedEvent) -> DecodedVerdict {
        DecodedVerdict {
            bot_id: record.stream.id(),
            intent_id: self.intent.intent_id,
            verdict: self.verdict,
            failed_rules: self
                .rules
                .into_iter()
                .filter(|rule| !rule.passed)
                .map(|rule| rule.rule.into_owned())
                .collect(),
            mode: self.mode,
            checked_at: self.checked_at,
        }
    }
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
            Decoded::Verdict(verdict) => self.apply_verdict(record, *verdict),
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
                    mode: None,
                    risk_checks: 0,
                    recent_verdicts: VecDeque::new(),
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
            }
            BotEvent::OrderRiskChecked(checked) => {
                let summary = VerdictSummary::new(record.position, checked);
                view.push_verdict(checked.mode, summary);
            }
            BotEvent::BacktestCompleted(done) => view.backtests.push(done.into()),
            _ => {}
        }
    }

    fn apply_verdict(&mut self, record: &RecordedEvent, verdict: DecodedVerdict) {
        let Some(view) = self.bots.get_mut(&verdict.bot_id) else {
            return;
        };
        let summary = VerdictSummary {
            position: record.position,
            intent_id: verdict.intent_id,
            verdict: verdict.verdict,
            failed_rules: verdict.failed_rules,
            checked_at: verdict.checked_at,
        };
        view.push_verdict(verdict.mode, summary);
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
    use keyward_events::DomainEvent;
    use keyward_events::bot::BotEvent;

    use super::*;
    use crate::synthetic::{History, Step};

    fn recorded(history: History) -> Vec<RecordedEvent> {
        history
            .events
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
        assert_eq!(bot.mode, Some(checked.mode));
        assert_eq!(
            bot.recent_verdicts.back(),
            Some(&VerdictSummary::new(verdict.position, &checked))
        );
        assert_eq!(bot.recent_verdicts[0].failed_rules, ["stop_loss_present"]);
    }
}
