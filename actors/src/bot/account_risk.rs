//! Account-wide risk: the limits every bot of an account shares and the kill switch.
//!
//! They are recorded on the account's stream (`AccountRiskLimitsSet`, `KillSwitchEngaged`,
//! `KillSwitchReleased`). The account actor writes that stream too, so each command appends
//! with the version it read and reads again after a version conflict.

use chrono::{DateTime, Utc};
use keyward_eventlog::{AppendError, Appended, ExpectedVersion, read_whole_stream};
use keyward_events::account::{
    AccountEvent, AccountRiskLimitsSet, KillSwitchEngaged, KillSwitchReleased,
};
use keyward_events::bot::{BotEvent, BotPaused, PauseReason, RiskLimitBreached};
use keyward_events::codec::derive_event_id;
use keyward_events::{Category, DomainEvent, Metadata, NewEvent, StreamName};
use keyward_risk::Rule;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::{BotCommandError, BotService};

/// Times a command reads the account stream again after a version conflict.
const CONFLICT_RETRIES: u32 = 3;

/// The account's risk limits and kill switch, rebuilt from its stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AccountRisk {
    /// Largest leverage any bot of the account may use; `None` until set.
    pub max_leverage: Option<Decimal>,
    /// Daily loss limit of the account, in percent; `None` until set.
    pub daily_loss_limit_pct: Option<Decimal>,
    pub kill_switch_engaged: bool,
    /// Version of the account stream's last event.
    #[serde(skip)]
    pub version: Option<u64>,
}

impl AccountRisk {
    pub(super) fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::AccountRiskLimitsSet(set) => {
                self.max_leverage = Some(set.max_leverage);
                self.daily_loss_limit_pct = Some(set.daily_loss_limit_pct);
            }
            AccountEvent::KillSwitchEngaged(_) => self.kill_switch_engaged = true,
            AccountEvent::KillSwitchReleased(_) => self.kill_switch_engaged = false,
            _ => {}
        }
    }
}

/// Account limits as a user sets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountLimits {
    pub max_leverage: Decimal,
    pub daily_loss_limit_pct: Decimal,
}

impl AccountLimits {
    /// Checks both limits against their ranges.
    ///
    /// # Errors
    /// Names the first value out of range and the allowed range.
    pub fn validate(&self) -> Result<(), BotCommandError> {
        let leverage_ok = self.max_leverage >= Decimal::ONE
            && self.max_leverage <= keyward_risk::LEVERAGE_CEILING;
        if !leverage_ok {
            return Err(BotCommandError::InvalidRisk(format!(
                "max_leverage = {} is out of range; allowed: 1 to 125",
                self.max_leverage
            )));
        }
        let loss = self.daily_loss_limit_pct;
        if loss <= Decimal::ZERO || loss > Decimal::ONE_HUNDRED {
            return Err(BotCommandError::InvalidRisk(format!(
                "daily_loss_limit_pct = {loss} is out of range; allowed: greater than 0 and at \
                 most 100"
            )));
        }
        Ok(())
    }
}

/// The outcome of engaging the kill switch.
#[derive(Clone, Debug)]
pub struct KillSwitchOutcome {
    /// Where `KillSwitchEngaged` landed.
    pub appended: Appended,
    /// Bots stopped by it.
    pub stopped: Vec<Uuid>,
}

impl BotService {
    /// Rebuilds an account's risk limits and kill switch from its stream.
    ///
    /// # Errors
    /// Fails when the stream cannot be read or decoded.
    pub async fn account_risk(&self, account_id: Uuid) -> Result<AccountRisk, BotCommandError> {
        let stream = StreamName::new(Category::Account, account_id);
        let records = read_whole_stream(self.log.as_ref(), &stream).await?;
        let mut risk = AccountRisk::default();
        for record in &records {
            // Events this build does not know belong to the account actor; skip them.
            if let Ok(event) = AccountEvent::from_recorded(record) {
                risk.apply(&event);
            }
            risk.version = Some(record.version);
        }
        Ok(risk)
    }

    /// Records the account's limits with `AccountRiskLimitsSet`.
    ///
    /// # Errors
    /// Fails on a limit out of range, an account without a stream, or when the log cannot
    /// append.
    pub async fn set_account_limits(
        &self,
        account_id: Uuid,
        limits: AccountLimits,
        metadata: Metadata,
    ) -> Result<Appended, BotCommandError> {
        limits.validate()?;
        let event = AccountEvent::AccountRiskLimitsSet(AccountRiskLimitsSet {
            max_leverage: limits.max_leverage,
            daily_loss_limit_pct: limits.daily_loss_limit_pct,
            set_at: Utc::now(),
        });
        self.append_to_account(account_id, &event, metadata).await
    }

    /// Engages the account's kill switch: records `KillSwitchEngaged`, then stops every bot of
    /// the account that is not stopped yet. A bot's runner cancels its open orders when it
    /// sees `BotStopped`.
    ///
    /// # Errors
    /// Fails when the log cannot be read or appended to.
    pub async fn engage_kill_switch(
        &self,
        account_id: Uuid,
        metadata: Metadata,
    ) -> Result<KillSwitchOutcome, BotCommandError> {
        let bots = self.running_bots_of(account_id).await?;
        let event = AccountEvent::KillSwitchEngaged(KillSwitchEngaged {
            bots: bots.clone(),
            engaged_at: Utc::now(),
        });
        let appended = self
            .append_to_account(account_id, &event, metadata.clone())
            .await?;
        let mut stopped = Vec::new();
        for bot_id in bots {
            match self.stop(bot_id, "kill_switch", metadata.clone()).await {
                Ok(_) => stopped.push(bot_id),
                Err(BotCommandError::Conflict(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(KillSwitchOutcome { appended, stopped })
    }

    /// Releases the account's kill switch with `KillSwitchReleased`; stopped bots stay
    /// stopped.
    ///
    /// # Errors
    /// Fails when the log cannot append.
    pub async fn release_kill_switch(
        &self,
        account_id: Uuid,
        metadata: Metadata,
    ) -> Result<Appended, BotCommandError> {
        let event = AccountEvent::KillSwitchReleased(KillSwitchReleased {
            released_at: Utc::now(),
        });
        self.append_to_account(account_id, &event, metadata).await
    }

    /// Records a breach of the account's daily loss limit on UTC day `day`: every bot of the
    /// account that is not stopped gets `RiskLimitBreached`, and every active one is paused.
    /// Returns the bots paused.
    ///
    /// The events' ids derive from the bot and the day, so recording the same day's breach
    /// again appends nothing. A bot activated again later that day therefore stays active, but
    /// the gate still rejects its new risk until the day ends.
    ///
    /// # Errors
    /// Fails when the log cannot be read or appended to.
    pub async fn record_account_breach(
        &self,
        account_id: Uuid,
        day: i64,
        detail: &str,
        at: DateTime<Utc>,
        metadata: Metadata,
    ) -> Result<Vec<Uuid>, BotCommandError> {
        let rule = Rule::AccountDailyLossLimit.name();
        let mut paused = Vec::new();
        for bot_id in self.running_bots_of(account_id).await? {
            let command_id = Uuid::new_v5(&bot_id, format!("{rule}/{day}").as_bytes());
            let breached = BotEvent::RiskLimitBreached(RiskLimitBreached {
                rule: rule.to_owned(),
                detail: detail.to_owned(),
                breached_at: at,
            });
            let breached = breached.to_new_event(derive_event_id(command_id, 0), metadata.clone());
            self.append_to_bot(bot_id, breached, |_| true).await?;
            let pause = BotEvent::BotPaused(BotPaused {
                reason: PauseReason::RiskLimitBreached {
                    rule: rule.to_owned(),
                },
                paused_at: at,
            });
            let pause = pause.to_new_event(derive_event_id(command_id, 1), metadata.clone());
            if self
                .append_to_bot(bot_id, pause, |bot| bot.is_active())
                .await?
            {
                paused.push(bot_id);
            }
        }
        tracing::warn!(%account_id, day, paused = paused.len(), detail,
            "account daily loss limit breached; paused the account's active bots");
        Ok(paused)
    }

    /// Appends one event to a bot's stream when `applies` accepts the bot's state, reading
    /// the stream again after a version conflict. Returns whether it appended a new event
    /// (an event id recorded before appends nothing).
    async fn append_to_bot(
        &self,
        bot_id: Uuid,
        event: NewEvent,
        applies: impl Fn(&super::BotState) -> bool,
    ) -> Result<bool, BotCommandError> {
        let stream = StreamName::new(Category::Bot, bot_id);
        let mut attempt = 0;
        loop {
            let bot = self.require(bot_id).await?;
            if !applies(&bot) {
                return Ok(false);
            }
            let expected = ExpectedVersion::Exact(bot.version);
            match self
                .log
                .append(&stream, expected, vec![event.clone()])
                .await
            {
                Err(AppendError::WrongExpectedVersion { .. }) if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                }
                result => return Ok(result?.last_version > bot.version),
            }
        }
    }

    // The account actor retries an append that conflicts only with these events.
    async fn append_to_account(
        &self,
        account_id: Uuid,
        event: &AccountEvent,
        metadata: Metadata,
    ) -> Result<Appended, BotCommandError> {
        let stream = StreamName::new(Category::Account, account_id);
        let command_id = Uuid::now_v7();
        let mut attempt = 0;
        loop {
            let risk = self.account_risk(account_id).await?;
            let Some(version) = risk.version else {
                return Err(BotCommandError::NotFound(account_id));
            };
            let new_event = event.to_new_event(derive_event_id(command_id, 0), metadata.clone());
            let expected = ExpectedVersion::Exact(version);
            match self.log.append(&stream, expected, vec![new_event]).await {
                Err(AppendError::WrongExpectedVersion { .. }) if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                }
                result => return Ok(result?),
            }
        }
    }
}
