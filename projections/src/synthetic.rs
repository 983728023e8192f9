//! Synthetic histories of accounts, keys and bots, for property tests and benchmarks of the
//! projections. Built from the real event types, so every event decodes.

use chrono::{DateTime, Duration, Utc};
use keyward_events::account::{
    AccountEvent, SessionEnd, SessionStarted, SessionTerminated, SessionTransport,
};
use keyward_events::bot::{
    BotActivated, BotConfigured, BotCreated, BotEvent, BotMode, BotPaused, OrderFilled,
    OrderIntent, OrderKind, OrderRiskChecked, PauseReason, PositionChanged, RuleCheck, Side,
    StrategySpec, Verdict,
};
use keyward_events::key::{
    KeyAdded, KeyEvent, KeyFlagged, KeyProbed, VaultRef, WithdrawalDisabledConfirmed,
};
use keyward_events::{
    Category, DomainEvent, Exchange, KeyPermissions, Metadata, NewEvent, StreamName,
};
use rust_decimal::Decimal;
use uuid::Uuid;

/// One step of a history. Indices pick an existing key, bot or session modulo their count;
/// a step whose target does not exist yet appends nothing.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    AddKey,
    ProbeKey(usize),
    FlagKey(usize),
    CreateBot,
    ConfigureBot(usize),
    CheckRisk {
        bot: usize,
        approved: bool,
    },
    ActivateBot(usize),
    PauseBot(usize),
    /// A fill of 0.01 at a price that moves with the step's index, then the position it leaves.
    Fill {
        bot: usize,
        buy: bool,
    },
    StartSession,
    EndSession(usize),
}

/// Builds the events of a history over `accounts` accounts, in append order.
pub struct History {
    accounts: Vec<Uuid>,
    keys: Vec<(Uuid, Uuid)>,
    bots: Vec<(Uuid, Uuid)>,
    /// Position of each bot in `bots`, in hundredths, and its entry price.
    positions: Vec<(i64, Option<Decimal>)>,
    sessions: Vec<(Uuid, Uuid)>,
    counter: u64,
    start: DateTime<Utc>,
    /// The events so far, each with the stream it goes to.
    pub events: Vec<(StreamName, NewEvent)>,
}

impl History {
    /// A history over `accounts` accounts (at least one), with ids derived from `seed`.
    pub fn new(seed: u64, accounts: usize) -> Self {
        let accounts = (0..accounts.max(1) as u64)
            .map(|i| derived_id(seed, i))
            .collect();
        History {
            accounts,
            keys: Vec::new(),
            bots: Vec::new(),
            positions: Vec::new(),
            sessions: Vec::new(),
            counter: seed << 32,
            start: DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default(),
            events: Vec::new(),
        }
    }

    /// Builds the events of every step.
    pub fn of(seed: u64, accounts: usize, steps: &[Step]) -> Vec<(StreamName, NewEvent)> {
        let mut history = History::new(seed, accounts);
        for step in steps {
            history.push(*step);
        }
        history.events
    }

    /// Appends the events of one step.
    pub fn push(&mut self, step: Step) {
        match step {
            Step::AddKey => self.add_key(),
            Step::ProbeKey(i) => self.probe_key(i),
            Step::FlagKey(i) => {
                if let Some(&(key, account)) = pick(&self.keys, i) {
                    let flagged = KeyFlagged {
                        flag: "no_ip_allowlist".into(),
                        message: "the key works from any address".into(),
                        flagged_at: self.now(),
                    };
                    self.key_event(key, account, flagged.into());
                }
            }
            Step::CreateBot => self.create_bot(),
            Step::ConfigureBot(i) => self.configure_bot(i),
            Step::CheckRisk { bot, approved } => self.check_risk(bot, approved),
            Step::ActivateBot(i) => self.activate_bot(i),
            Step::PauseBot(i) => {
                if let Some(&(bot, account)) = pick(&self.bots, i) {
                    let paused = BotPaused {
                        reason: PauseReason::Requested,
                        paused_at: self.now(),
                    };
                    self.bot_event(bot, account, paused.into());
                }
            }
            Step::Fill { bot, buy } => self.fill(bot, buy),
            Step::StartSession => self.start_session(),
            Step::EndSession(i) => self.end_session(i),
        }
    }

    fn add_key(&mut self) {
        let key = self.next_id();
        let account = self.account();
        let added = KeyAdded {
            key_id: key,
            account_id: Some(account),
            exchange: Exchange::ALL[self.keys.len() % 3],
            label: format!("key {}", self.keys.len()),
            masked_api_key: "abcd…wxyz".into(),
            vault_ref: VaultRef {
                api_key_id: self.next_id(),
                secret_id: self.next_id(),
                passphrase_id: None,
            },
            added_at: self.now(),
        };
        self.keys.push((key, account));
        self.key_event(key, account, added.into());
    }

    fn probe_key(&mut self, i: usize) {
        let Some(&(key, account)) = pick(&self.keys, i) else {
            return;
        };
        let probed = KeyProbed {
            permissions: KeyPermissions {
                read: true,
                futures_trade: true,
                ip_restricted: i.is_multiple_of(2),
                ..KeyPermissions::default()
            },
            latency_ms: 40 + (i as u64 % 50),
            clock_offset_ms: -3,
            exchange_host: "http://127.0.0.1:9".into(),
            raw_flags: Default::default(),
            probed_at: self.now(),
        };
        self.key_event(key, account, probed.into());
        let confirmed = WithdrawalDisabledConfirmed {
            exchange_host: "http://127.0.0.1:9".into(),
            confirmed_at: self.now(),
        };
        self.key_event(key, account, confirmed.into());
    }

    fn create_bot(&mut self) {
        let bot = self.next_id();
        let account = self.account();
        let created = BotCreated {
            bot_id: bot,
            account_id: Some(account),
            label: format!("bot {}", self.bots.len()),
            key_id: self.keys.last().map(|(key, _)| *key),
            exchange: Exchange::Binance,
            symbol: "BTCUSDT".into(),
            created_at: self.now(),
        };
        self.bots.push((bot, account));
        self.positions.push((0, None));
        self.bot_event(bot, account, created.into());
    }

    fn configure_bot(&mut self, i: usize) {
        let Some(&(bot, account)) = pick(&self.bots, i) else {
            return;
        };
        let configured = BotConfigured {
            strategy: StrategySpec {
                name: "sma".into(),
                params: Default::default(),
            },
            risk: serde_json::json!({"max_leverage": 3}),
            config_hash: format!("{:064x}", i),
            configured_at: self.now(),
        };
        self.bot_event(bot, account, configured.into());
    }

    fn check_risk(&mut self, i: usize, approved: bool) {
        let Some(&(bot, account)) = pick(&self.bots, i) else {
            return;
        };
        let checked = OrderRiskChecked {
            intent: OrderIntent {
                intent_id: self.next_id(),
                symbol: "BTCUSDT".into(),
                side: if approved { Side::Buy } else { Side::Sell },
                kind: OrderKind::Market,
                quantity: Decimal::new(15, 3),
                price: Some(Decimal::new(6_500_000, 2)),
                stop_loss: None,
                reduce_only: false,
            },
            verdict: if approved {
                Verdict::Approved
            } else {
                Verdict::Rejected
            },
            rules: vec![RuleCheck {
                rule: "stop_loss_present".into(),
                passed: approved,
                detail: "stop loss checked".into(),
                enforced: true,
            }],
            mode: BotMode::Paper,
            checked_at: self.now(),
        };
        self.bot_event(bot, account, checked.into());
    }

    fn activate_bot(&mut self, i: usize) {
        let Some(&(bot, account)) = pick(&self.bots, i) else {
            return;
        };
        let activated = BotActivated {
            mode: if i.is_multiple_of(2) {
                BotMode::Paper
            } else {
                BotMode::Live
            },
            config_hash: format!("{:064x}", i),
            exchange_host: None,
            activated_at: self.now(),
        };
        self.bot_event(bot, account, activated.into());
    }

    fn fill(&mut self, i: usize, buy: bool) {
        let Some(&(bot, account)) = pick(&self.bots, i) else {
            return;
        };
        let intent_id = self.next_id();
        let price = Decimal::new(6_500_000 + (i % 1_000) as i64 * 100, 2);
        let filled = OrderFilled {
            intent_id,
            client_order_id: intent_id.simple().to_string(),
            side: if buy { Side::Buy } else { Side::Sell },
            quantity: Decimal::new(1, 2),
            price,
            fee: Decimal::new(26, 3),
            complete: true,
            filled_at: self.now(),
        };
        self.bot_event(bot, account, filled.into());
        let slot = &mut self.positions[i % self.bots.len()];
        let before = slot.0;
        slot.0 += if buy { 1 } else { -1 };
        slot.1 = match slot.0 {
            0 => None,
            _ if before == 0 => Some(price),
            _ => slot.1,
        };
        let changed = PositionChanged {
            symbol: "BTCUSDT".into(),
            quantity: Decimal::new(slot.0, 2),
            entry_price: slot.1,
            changed_at: self.now(),
        };
        self.bot_event(bot, account, changed.into());
    }

    fn start_session(&mut self) {
        let session = self.next_id();
        let account = self.account();
        let started = SessionStarted {
            session_id: session,
            transport: SessionTransport::Bearer,
            device: "curl".into(),
            address: Some("127.0.0.1".into()),
            idle_timeout_secs: 1800,
            expires_at: self.now() + Duration::hours(12),
            started_at: self.now(),
        };
        self.sessions.push((session, account));
        self.account_event(account, started.into());
    }

    fn end_session(&mut self, i: usize) {
        let Some(&(session, account)) = pick(&self.sessions, i) else {
            return;
        };
        let ended = SessionTerminated {
            session_id: session,
            reason: SessionEnd::LoggedOut,
            by_session: None,
            terminated_at: self.now(),
        };
        self.account_event(account, ended.into());
    }

    fn key_event(&mut self, key: Uuid, account: Uuid, event: KeyEvent) {
        self.push_event(StreamName::new(Category::Key, key), account, &event);
    }

    fn bot_event(&mut self, bot: Uuid, account: Uuid, event: BotEvent) {
        self.push_event(StreamName::new(Category::Bot, bot), account, &event);
    }

    fn account_event(&mut self, account: Uuid, event: AccountEvent) {
        self.push_event(StreamName::new(Category::Account, account), account, &event);
    }

    fn push_event(&mut self, stream: StreamName, account: Uuid, event: &impl DomainEvent) {
        let metadata = Metadata {
            account_id: Some(account),
            session_id: self.sessions.last().map(|(session, _)| *session),
            source_address: Some("127.0.0.1".into()),
            ..Metadata::default()
        };
        let id = self.next_id();
        self.events.push((stream, event.to_new_event(id, metadata)));
    }

    fn account(&self) -> Uuid {
        self.accounts[self.counter as usize % self.accounts.len()]
    }

    fn now(&self) -> DateTime<Utc> {
        self.start + Duration::milliseconds(self.events.len() as i64)
    }

    fn next_id(&mut self) -> Uuid {
        self.counter += 1;
        derived_id(u64::MAX, self.counter)
    }
}

fn pick<T>(items: &[T], i: usize) -> Option<&T> {
    (!items.is_empty()).then(|| &items[i % items.len()])
}

fn derived_id(seed: u64, i: u64) -> Uuid {
    Uuid::from_u64_pair(seed ^ 0x6b65_7977_6172_6400, i)
}
