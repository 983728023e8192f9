//! The account's daily loss, rebuilt from the log. An [`AccountLedger`] keeps the realised
//! profit and loss of every bot of one account per UTC day, the account's limits and kill
//! switch, and the days on which a breach of its daily loss limit was recorded.
//!
//! Realised profit and loss comes from the bots' `OrderFilled` events. A fill that reduces a
//! position realises `closed quantity × (fill price − average entry price)`, negated for a
//! short, and every fill's fee counts as a loss on the day of the fill.
//! Paper and live bots are kept apart, because a paper bot trades a simulated account.
// NOTE: only realised profit and loss counts; an open position's unrealised loss does not
// count against the account's daily loss limit until the position closes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use keyward_eventlog::EventLog;
use keyward_events::account::AccountEvent;
use keyward_events::bot::{BotEvent, BotMode, OrderFilled, Side};
use keyward_events::{Category, DomainEvent, EventCodecError, RecordedEvent};
use keyward_risk::{AccountDailyLoss, Rule};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{AccountRisk, BotCommandError};
use crate::trading::AccountRiskState;

const DAY_MS: i64 = 86_400_000;
/// Records read from the log per request while catching up.
const PAGE: usize = 1000;

/// Returns the number of the UTC day of `time`, counted from the Unix epoch.
pub fn utc_day(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis().div_euclid(DAY_MS)
}

/// One bot's position and realised profit and loss, rebuilt from its fills.
#[derive(Clone, Debug, Default)]
struct BotLedger {
    /// Mode of the bot's last activation or, if later, of its last order.
    mode: Option<BotMode>,
    /// Signed position: positive long, negative short.
    position: Decimal,
    /// Average entry price of the position; zero when flat.
    entry_price: Decimal,
    /// Realised profit and loss net of fees, by fill time in ms since the Unix epoch.
    realised: BTreeMap<i64, Decimal>,
}

impl BotLedger {
    /// Applies one fill; returns `None` when the arithmetic overflows, leaving the ledger as it
    /// was.
    fn fill(&mut self, filled: &OrderFilled) -> Option<()> {
        let quantity = filled.quantity;
        let signed = match filled.side {
            Side::Buy => quantity,
            Side::Sell => -quantity,
        };
        let opposes = (self.position > Decimal::ZERO && signed < Decimal::ZERO)
            || (self.position < Decimal::ZERO && signed > Decimal::ZERO);
        let mut pnl = -filled.fee;
        let position = self.position.checked_add(signed)?;

        let entry_price = if opposes {
            let closed = quantity.min(self.position.abs());
            let mut gain = closed.checked_mul(filled.price.checked_sub(self.entry_price)?)?;
            if self.position < Decimal::ZERO {
                gain = -gain;
            }
            pnl = pnl.checked_add(gain)?;
            let flipped = position.is_sign_negative() != self.position.is_sign_negative();
            if position.is_zero() {
                Decimal::ZERO
            } else if flipped {
                filled.price
            } else {
                self.entry_price
            }
        } else {
            let held_cost = self.position.abs().checked_mul(self.entry_price)?;
            let added_cost = quantity.checked_mul(filled.price)?;
            let total = self.position.abs().checked_add(quantity)?;
            if total.is_zero() {
                self.entry_price
            } else {
                held_cost.checked_add(added_cost)?.checked_div(total)?
            }
        };

        let time_ms = filled.filled_at.timestamp_millis();
        let realised = self.realised.get(&time_ms).copied().unwrap_or_default();
        let realised = realised.checked_add(pnl)?;
        self.realised.insert(time_ms, realised);
        self.position = position;
        self.entry_price = entry_price;
        Some(())
    }
}

/// An account's bots, limits and breaches, caught up from the log on request.
#[derive(Clone, Debug)]
pub struct AccountLedger {
    account_id: Uuid,
    /// Global position of the last record read.
    after: u64,
    bots: HashMap<Uuid, BotLedger>,
    risk: AccountRisk,
    /// Times (ms since the Unix epoch) of the recorded breaches of the account's daily loss
    /// limit.
    breaches: BTreeSet<i64>,
}

impl AccountLedger {
    /// Creates an empty ledger of `account_id`; [`AccountLedger::catch_up`] fills it.
    pub fn new(account_id: Uuid) -> Self {
        Self {
            account_id,
            after: 0,
            bots: HashMap::new(),
            risk: AccountRisk::default(),
            breaches: BTreeSet::new(),
        }
    }

    /// Returns the account this ledger follows.
    pub fn account_id(&self) -> Uuid {
        self.account_id
    }

    /// Reads every record appended since the last call and applies the account's.
    ///
    /// # Errors
    /// Fails when the log cannot be read or one of the account's bot events cannot be decoded.
    // NOTE: every ledger reads the records of every stream, so a process running many bots
    // reads each record once per ledger.
    pub async fn catch_up(&mut self, log: &dyn EventLog) -> Result<(), BotCommandError> {
        loop {
            let page = log.read_all(self.after, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            self.after = last.position;
            for record in &page {
                self.apply(record)?;
            }
            if page.len() < PAGE {
                return Ok(());
            }
        }
    }

    fn apply(&mut self, record: &RecordedEvent) -> Result<(), EventCodecError> {
        let id = record.stream.id();
        match record.stream.category() {
            Category::Account if id == self.account_id => {
                // Events this build does not know belong to the account actor; skip them.
                if let Ok(event) = AccountEvent::from_recorded(record) {
                    self.risk.apply(&event);
                }
            }
            Category::Bot if record.version == 0 => {
                if let BotEvent::BotCreated(created) = BotEvent::from_recorded(record)?
                    && created.account_id == Some(self.account_id)
                {
                    self.bots.insert(id, BotLedger::default());
                }
            }
            Category::Bot if self.bots.contains_key(&id) => {
                let event = BotEvent::from_recorded(record)?;
                self.apply_bot(id, &event);
            }
            _ => {}
        }
        Ok(())
    }

    fn apply_bot(&mut self, bot_id: Uuid, event: &BotEvent) {
        let Some(bot) = self.bots.get_mut(&bot_id) else {
            return;
        };
        match event {
            BotEvent::BotActivated(activated) => bot.mode = Some(activated.mode),
            BotEvent::OrderSubmitted(submitted) => bot.mode = Some(submitted.mode),
            BotEvent::OrderFilled(filled) => {
                let applied = bot.fill(filled);
                if applied.is_none() {
                    tracing::warn!(%bot_id, intent_id = %filled.intent_id,
                        "fill overflowed the realised profit and loss; left out");
                }
            }
            BotEvent::PositionReconciled(reconciled) => {
                bot.position = reconciled.exchange_quantity;
                if bot.position.is_zero() {
                    bot.entry_price = Decimal::ZERO;
                }
            }
            BotEvent::RiskLimitBreached(breached)
                if breached.rule == Rule::AccountDailyLossLimit.name() =>
            {
                self.breaches
                    .insert(breached.breached_at.timestamp_millis());
            }
            _ => {}
        }
    }

    /// Returns the account's leverage limit and kill switch, without the daily loss.
    pub fn limits(&self) -> AccountRiskState {
        AccountRiskState {
            max_leverage: self.risk.max_leverage,
            kill_switch_engaged: self.risk.kill_switch_engaged,
            daily_loss: None,
        }
    }

    /// Returns how many of the account's bots were last activated, or last traded, in `mode`.
    pub fn bots_in(&self, mode: BotMode) -> usize {
        self.bots
            .values()
            .filter(|bot| bot.mode == Some(mode))
            .count()
    }

    /// Returns the realised profit and loss of the account's bots in `mode`: before the start
    /// of UTC day `day`, and from then to `until_ms` (included).
    pub fn realised(&self, mode: BotMode, day: i64, until_ms: i64) -> (Decimal, Decimal) {
        let day_start_ms = day.saturating_mul(DAY_MS);
        let mut before = Decimal::ZERO;
        let mut on = Decimal::ZERO;
        let bots = self.bots.values().filter(|bot| bot.mode == Some(mode));
        for bot in bots {
            for (time_ms, pnl) in bot.realised.range(..=until_ms) {
                let total = if *time_ms < day_start_ms {
                    &mut before
                } else {
                    &mut on
                };
                *total = total.saturating_add(*pnl);
            }
        }
        (before, on)
    }

    /// Returns the equity the account's paper bots started UTC day `day` with: each paper
    /// bot's starting `cash` plus what they realised before that day.
    pub fn paper_day_start_equity(&self, day: i64, cash: Decimal) -> Decimal {
        let bots = Decimal::from(self.bots_in(BotMode::Paper));
        let day_start_ms = day.saturating_mul(DAY_MS);
        let (before, _) = self.realised(BotMode::Paper, day, day_start_ms);
        cash.saturating_mul(bots).saturating_add(before)
    }

    /// Returns the account's daily loss of the bots in `mode` as it stood at `now`, against
    /// `day_start_equity`; `None` while the account sets no daily loss limit.
    ///
    /// Fills and breaches recorded after `now` are left out, so a paper run replaying its
    /// candles after a restart decides as it did the first time.
    pub fn daily_loss(
        &self,
        mode: BotMode,
        now: DateTime<Utc>,
        day_start_equity: Decimal,
    ) -> Option<AccountDailyLoss> {
        let limit_pct = self.risk.daily_loss_limit_pct?;
        let now_ms = now.timestamp_millis();
        let day = utc_day(now);
        let (_, realised) = self.realised(mode, day, now_ms);
        let day_start_ms = day.saturating_mul(DAY_MS);
        let breached = self.breaches.range(day_start_ms..=now_ms).next().is_some();
        Some(AccountDailyLoss {
            limit_pct,
            day_start_equity,
            loss: -realised,
            breached,
        })
    }
}

/// Returns whether the account's loss reached its limit and no breach was recorded yet that
/// day: the moment to record one.
pub fn newly_breached(loss: &AccountDailyLoss) -> bool {
    if loss.breached || loss.day_start_equity <= Decimal::ZERO {
        return false;
    }
    let scaled_loss = loss.loss.saturating_mul(Decimal::ONE_HUNDRED);
    scaled_loss >= loss.day_start_equity.saturating_mul(loss.limit_pct)
}

#[cfg(test)]
mod tests;
