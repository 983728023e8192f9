//! The gate itself: it runs every rule on an intent and is the only place that can issue an
//! [`ApprovedOrder`].

use chrono::{DateTime, Utc};
use keyward_events::bot::{BotMode, OrderIntent, OrderRiskChecked, RuleCheck, Verdict};
use rust_decimal::Decimal;

use crate::config::{RiskConfig, RiskConfigError};
use crate::instrument::InstrumentRules;
use crate::rules::{self, Limits, RULE_COUNT, RuleInputs, RuleResult};

/// State of the bot and its account that the gate checks an intent against.
///
/// Build it with [`RiskContext::new`] and set the fields that differ from a flat, fresh account,
/// e.g. `RiskContext { position, ..RiskContext::new(mode, now, equity) }`.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskContext {
    pub mode: BotMode,
    /// Time of the check; the simulated bar time in a backtest.
    pub now: DateTime<Utc>,
    /// Account equity (wallet balance plus unrealized PnL) in the quote currency.
    pub equity: Decimal,
    /// Signed quantity of the bot's position in the intent's symbol: positive long, negative
    /// short, zero flat.
    pub position: Decimal,
    /// Leverage set on the exchange for the symbol.
    pub leverage: Decimal,
    /// Last traded price of the symbol, if known.
    pub last_price: Option<Decimal>,
    /// Positions open across the account, this symbol's included.
    pub open_positions: u32,
    /// Orders the bot sent in the 60 seconds before `now`.
    pub orders_last_minute: u32,
    /// Equity at the start of the current UTC day.
    pub day_start_equity: Decimal,
    /// Highest equity seen so far.
    pub peak_equity: Decimal,
    pub kill_switch_engaged: bool,
    /// Largest leverage the account allows every bot, when the account sets one.
    pub account_max_leverage: Option<Decimal>,
    /// The account's daily loss across all its bots, when the account sets a limit.
    pub account_daily_loss: Option<AccountDailyLoss>,
}

/// The loss of all of an account's bots since the start of the UTC day, against the account's
/// daily loss limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountDailyLoss {
    /// The limit, in percent of `day_start_equity` (`2` means 2%).
    pub limit_pct: Decimal,
    /// The account's equity at the start of the current UTC day, in the quote currency.
    pub day_start_equity: Decimal,
    /// Net loss since the start of the UTC day, in the quote currency; negative for a profit.
    pub loss: Decimal,
    /// Whether a breach was already recorded today. A breach stays in effect until the UTC day
    /// ends, even if the loss shrinks below the limit again.
    pub breached: bool,
}

impl RiskContext {
    /// Creates a context for a flat account at leverage 1 whose day-start and peak equity are `equity`,
    /// with no recent orders, no last price, no account limits and the kill switch released.
    pub fn new(mode: BotMode, now: DateTime<Utc>, equity: Decimal) -> Self {
        Self {
            mode,
            now,
            equity,
            position: Decimal::ZERO,
            leverage: Decimal::ONE,
            last_price: None,
            open_positions: 0,
            orders_last_minute: 0,
            day_start_equity: equity,
            peak_equity: equity,
            kill_switch_engaged: false,
            account_max_leverage: None,
            account_daily_loss: None,
        }
    }
}

/// An order that passed the risk gate. Its fields are private and it has no public
/// constructor, so only this crate can create one and every order sent went through
/// [`RiskGate::check`].
///
/// ```compile_fail,E0451
/// # use keyward_risk::ApprovedOrder;
/// # fn forge(intent: keyward_events::bot::OrderIntent) -> ApprovedOrder {
/// ApprovedOrder { intent, mode: keyward_events::bot::BotMode::Live, checked_at: chrono::Utc::now() }
/// # }
/// ```
#[derive(Debug, PartialEq)]
pub struct ApprovedOrder {
    intent: OrderIntent,
    mode: BotMode,
    checked_at: DateTime<Utc>,
}

impl ApprovedOrder {
    /// Returns the intent as approved.
    pub fn intent(&self) -> &OrderIntent {
        &self.intent
    }

    /// Returns the mode the bot ran in when the order was approved.
    pub fn mode(&self) -> BotMode {
        self.mode
    }

    /// Returns the time of the approval.
    pub fn checked_at(&self) -> DateTime<Utc> {
        self.checked_at
    }
}

/// The outcome of [`RiskGate::check`].
#[derive(Debug)]
pub struct RiskDecision {
    /// The verdict with every rule's result, to be recorded before anything is sent.
    pub checked: OrderRiskChecked,
    /// Present only when the verdict is [`Verdict::Approved`].
    pub approved: Option<ApprovedOrder>,
}

/// The outcome of [`RiskGate::evaluate`]: the intent with every rule's result, held as numbers
/// so that evaluating allocates nothing. [`Evaluation::to_event`] writes the details out as the
/// `OrderRiskChecked` to record, and [`Evaluation::approved_order`] or
/// [`Evaluation::into_approved`] release the order when every enforced rule passed.
#[derive(Debug, PartialEq)]
pub struct Evaluation {
    /// The intent as an order, handed out only when `approved` is true.
    order: ApprovedOrder,
    results: [RuleResult; RULE_COUNT],
    approved: bool,
}

impl Evaluation {
    /// Returns the intent the rules were evaluated on.
    pub fn intent(&self) -> &OrderIntent {
        &self.order.intent
    }

    /// Returns whether every enforced rule passed.
    pub fn is_approved(&self) -> bool {
        self.approved
    }

    /// Returns the verdict.
    pub fn verdict(&self) -> Verdict {
        if self.approved {
            Verdict::Approved
        } else {
            Verdict::Rejected
        }
    }

    /// Returns every rule's result, in evaluation order.
    pub fn results(&self) -> &[RuleResult; RULE_COUNT] {
        &self.results
    }

    /// Returns the time of the check.
    pub fn checked_at(&self) -> DateTime<Utc> {
        self.order.checked_at
    }

    /// Writes the verdict out as the event to record, with every rule's detail text.
    pub fn to_event(&self) -> OrderRiskChecked {
        let rules = self
            .results
            .iter()
            .map(|result| RuleCheck {
                rule: result.rule.name().to_owned(),
                passed: result.passed,
                detail: result.detail(),
                enforced: result.enforced,
            })
            .collect();
        OrderRiskChecked {
            intent: self.order.intent.clone(),
            verdict: self.verdict(),
            rules,
            mode: self.order.mode,
            checked_at: self.order.checked_at,
        }
    }

    /// Returns the approved order, when the verdict is approved, without giving up the
    /// evaluation.
    pub fn approved_order(&self) -> Option<&ApprovedOrder> {
        self.approved.then_some(&self.order)
    }

    /// Releases the order when the verdict is approved.
    pub fn into_approved(self) -> Option<ApprovedOrder> {
        self.approved.then_some(self.order)
    }

    /// Splits the evaluation into the event to record and the approved order.
    pub fn into_decision(self) -> RiskDecision {
        let checked = self.to_event();
        RiskDecision {
            checked,
            approved: self.into_approved(),
        }
    }
}

/// The risk gate of one bot, built from a validated [`RiskConfig`].
#[derive(Clone, Debug)]
pub struct RiskGate {
    config: RiskConfig,
    limits: Limits,
    instrument: Option<InstrumentRules>,
}

impl RiskGate {
    /// Creates a gate enforcing `config`.
    ///
    /// # Errors
    /// Returns the first field of `config` that is out of range.
    pub fn new(config: RiskConfig) -> Result<Self, RiskConfigError> {
        config.validate()?;
        let limits = Limits::new(&config);
        Ok(Self {
            config,
            limits,
            instrument: None,
        })
    }

    /// Adds the instrument's rules. The gate then rounds each intent's quantity down to the step
    /// and a limit or stop price to the tick, on the side that is safe for the order. It also
    /// checks the minimum quantity and notional, and caps leverage by the bracket.
    pub fn with_instrument(mut self, rules: InstrumentRules) -> Self {
        self.instrument = Some(rules);
        self
    }

    /// Returns the limits this gate enforces.
    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    /// Evaluates every rule on `intent` without writing any text: the hot path of backtests
    /// and of live order intents alike.
    ///
    /// The intent is rejected when any enforced rule fails. The rules that keep the order itself
    /// valid are enforced for every order. Rules that cap new risk are evaluated and recorded on
    /// an order that only reduces the position, but they are not enforced for it.
    pub fn evaluate(&self, mut intent: OrderIntent, context: &RiskContext) -> Evaluation {
        let requested = (intent.quantity, intent.price);
        if let Some(instrument) = &self.instrument {
            intent.quantity = instrument.round_quantity(intent.quantity);
            intent.price = intent
                .price
                .map(|price| instrument.round_price(intent.kind, intent.side, price));
        }
        let instrument = self.instrument.as_ref();
        let inputs = RuleInputs::new(
            &self.config,
            &self.limits,
            &intent,
            context,
            instrument,
            requested,
        );
        let results = rules::evaluate_all(&inputs);
        let approved = results.iter().all(|rule| rule.passed || !rule.enforced);
        let order = ApprovedOrder {
            intent,
            mode: context.mode,
            checked_at: context.now,
        };
        Evaluation {
            order,
            results,
            approved,
        }
    }

    /// Evaluates every rule on `intent` and writes the verdict out as `OrderRiskChecked`, as
    /// [`RiskGate::evaluate`] followed by [`Evaluation::into_decision`].
    pub fn check(&self, intent: OrderIntent, context: &RiskContext) -> RiskDecision {
        self.evaluate(intent, context).into_decision()
    }
}
