//! The risk rules. Each one looks at an intent, the bot's configuration and its context and
//! returns whether it passed and a [`Detail`] holding the values it compared.
//!
//! Evaluating allocates nothing: a detail keeps numbers, and its text is written only when the
//! verdict is recorded as `OrderRiskChecked`. Arithmetic is checked, so an absurd quantity or
//! price fails its rule instead of panicking.

use std::fmt;

use keyward_events::bot::{OrderIntent, Side};
use rust_decimal::Decimal;

use crate::config::RiskConfig;
use crate::gate::RiskContext;
use crate::instrument::InstrumentRules;

/// One rule of the gate, in evaluation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    QuantityPositive,
    ReduceOnlyWithinPosition,
    KillSwitchReleased,
    PricePresent,
    StopLossPresent,
    StopLossDistance,
    RiskPerTrade,
    MaxPositionSize,
    MaxLeverage,
    MaxOpenPositions,
    MaxOrdersPerMinute,
    DailyLossLimit,
    AccountDailyLossLimit,
    MaxDrawdown,
    PriceBand,
    InstrumentRules,
}

/// Number of rules; every verdict carries one result per rule.
pub const RULE_COUNT: usize = 16;

/// Every rule in evaluation order.
pub const RULES: [Rule; RULE_COUNT] = [
    Rule::QuantityPositive,
    Rule::ReduceOnlyWithinPosition,
    Rule::KillSwitchReleased,
    Rule::PricePresent,
    Rule::StopLossPresent,
    Rule::StopLossDistance,
    Rule::RiskPerTrade,
    Rule::MaxPositionSize,
    Rule::MaxLeverage,
    Rule::MaxOpenPositions,
    Rule::MaxOrdersPerMinute,
    Rule::DailyLossLimit,
    Rule::AccountDailyLossLimit,
    Rule::MaxDrawdown,
    Rule::PriceBand,
    Rule::InstrumentRules,
];

impl Rule {
    /// Returns the name recorded in `OrderRiskChecked`.
    pub fn name(self) -> &'static str {
        match self {
            Self::QuantityPositive => "quantity_positive",
            Self::ReduceOnlyWithinPosition => "reduce_only_within_position",
            Self::KillSwitchReleased => "kill_switch_released",
            Self::PricePresent => "price_present",
            Self::StopLossPresent => "stop_loss_present",
            Self::StopLossDistance => "stop_loss_distance",
            Self::RiskPerTrade => "risk_per_trade",
            Self::MaxPositionSize => "max_position_size",
            Self::MaxLeverage => "max_leverage",
            Self::MaxOpenPositions => "max_open_positions",
            Self::MaxOrdersPerMinute => "max_orders_per_minute",
            Self::DailyLossLimit => "daily_loss_limit",
            Self::AccountDailyLossLimit => "account_daily_loss_limit",
            Self::MaxDrawdown => "max_drawdown",
            Self::PriceBand => "price_band",
            Self::InstrumentRules => "instrument_rules",
        }
    }

    /// Whether the rule keeps the order itself valid and so blocks every order. The other rules
    /// cap new risk and never block an order that only reduces the position.
    fn applies_to_every_order(self) -> bool {
        matches!(
            self,
            Self::QuantityPositive | Self::ReduceOnlyWithinPosition | Self::InstrumentRules
        )
    }
}

/// Names of every rule, in the order their results are recorded.
pub fn rule_names() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|rule| rule.name())
}

/// The result of one rule for one intent, without its text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RuleResult {
    pub rule: Rule,
    pub passed: bool,
    /// Whether a failure blocks the order; false for a limit on new risk checked on an order
    /// that only reduces risk.
    pub enforced: bool,
    detail: Detail,
}

impl RuleResult {
    /// Returns the detail text recorded for this result.
    pub fn detail(&self) -> String {
        self.detail.to_string()
    }
}

/// Evaluates every rule, marking the new-risk rules as not enforced on a reducing order.
///
/// Each rule's function is called directly, in the order of [`RULES`], instead of through a
/// match on the rule for each of them.
pub(crate) fn evaluate_all(inputs: &RuleInputs<'_>) -> [RuleResult; RULE_COUNT] {
    let result = |rule: Rule, (passed, detail): (bool, Detail)| RuleResult {
        rule,
        passed,
        enforced: rule.applies_to_every_order() || !inputs.reduces_risk,
        detail,
    };
    [
        result(Rule::QuantityPositive, quantity_positive(inputs)),
        result(
            Rule::ReduceOnlyWithinPosition,
            reduce_only_within_position(inputs),
        ),
        result(Rule::KillSwitchReleased, kill_switch_released(inputs)),
        result(Rule::PricePresent, price_present(inputs)),
        result(Rule::StopLossPresent, stop_loss_present(inputs)),
        result(Rule::StopLossDistance, stop_loss_distance(inputs)),
        result(Rule::RiskPerTrade, risk_per_trade(inputs)),
        result(Rule::MaxPositionSize, max_position_size(inputs)),
        result(Rule::MaxLeverage, max_leverage(inputs)),
        result(Rule::MaxOpenPositions, max_open_positions(inputs)),
        result(Rule::MaxOrdersPerMinute, max_orders_per_minute(inputs)),
        result(Rule::DailyLossLimit, daily_loss_limit(inputs)),
        result(
            Rule::AccountDailyLossLimit,
            account_daily_loss_limit(inputs),
        ),
        result(Rule::MaxDrawdown, max_drawdown(inputs)),
        result(Rule::PriceBand, price_band(inputs)),
        result(Rule::InstrumentRules, instrument_rules(inputs)),
    ]
}

/// The intent, its context and the facts every rule derives from them.
pub(crate) struct RuleInputs<'a> {
    config: &'a RiskConfig,
    limits: &'a Limits,
    intent: &'a OrderIntent,
    context: &'a RiskContext,
    /// The order opposes the position and is no larger than it.
    reduces_risk: bool,
    /// Quantity left once the order has closed any opposite position: the new exposure.
    added_quantity: Decimal,
    /// The intent's price when positive.
    price: Option<Decimal>,
    /// Distance between the price and the stop loss, when the intent has both and the
    /// distance is representable.
    stop_distance: Option<Decimal>,
    /// Notional of the position once the order fills, at the intent's price, if representable.
    notional_after: Option<Decimal>,
    /// The instrument's steps and minimums, when known.
    instrument: Option<&'a InstrumentRules>,
    /// Quantity and price as the bot requested them, before rounding to the instrument.
    requested: (Decimal, Option<Decimal>),
}

impl<'a> RuleInputs<'a> {
    pub(crate) fn new(
        config: &'a RiskConfig,
        limits: &'a Limits,
        intent: &'a OrderIntent,
        context: &'a RiskContext,
        instrument: Option<&'a InstrumentRules>,
        requested: (Decimal, Option<Decimal>),
    ) -> Self {
        let signed_quantity = match intent.side {
            Side::Buy => intent.quantity,
            Side::Sell => -intent.quantity,
        };
        let position = context.position;
        let opposes = (is_positive(position) && is_negative(signed_quantity))
            || (is_negative(position) && is_positive(signed_quantity));
        let closable = if opposes {
            position.abs()
        } else {
            Decimal::ZERO
        };
        let reduces_risk = opposes && intent.quantity <= closable;
        let position_after = position.checked_add(signed_quantity);
        let price = intent.price.filter(|price| is_positive(*price));
        let stop_distance = match (price, intent.stop_loss) {
            (Some(price), Some(stop)) => price.checked_sub(stop).map(|distance| distance.abs()),
            _ => None,
        };
        let notional_after = match (position_after, price) {
            (Some(position_after), Some(price)) => position_after.abs().checked_mul(price),
            _ => None,
        };
        Self {
            config,
            limits,
            intent,
            context,
            reduces_risk,
            // Only a quantity far below zero overflows here, and it adds nothing.
            added_quantity: intent
                .quantity
                .checked_sub(closable)
                .filter(|added| !is_negative(*added))
                .unwrap_or(Decimal::ZERO),
            price,
            stop_distance,
            notional_after,
            instrument,
            requested,
        }
    }
}

/// The values one rule compared, written out as the recorded detail text.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Detail {
    Quantity(Decimal),
    QuantityNotPositive(Decimal),
    NotReduceOnly,
    ReducesPosition(Decimal),
    ReduceOnlyBeyondPosition {
        quantity: Decimal,
        position: Decimal,
    },
    KillSwitch {
        engaged: bool,
    },
    Price(Decimal),
    NoPrice,
    StopLoss(Decimal),
    StopLossNotPositive(Decimal),
    NoStopLoss,
    NeedsPriceAndStop,
    StopOnWrongSide {
        stop: Decimal,
        price: Decimal,
        side: Side,
    },
    StopDistanceOverflow {
        stop: Decimal,
        price: Decimal,
    },
    StopDistance {
        stop: Decimal,
        price: Decimal,
        limit: Decimal,
    },
    LossAtStopOverflow,
    RiskPerTrade {
        loss: Decimal,
        limit_pct: Decimal,
        equity: Decimal,
    },
    LeverageNotPositive(Decimal),
    MarginUnknown,
    Margin {
        notional: Decimal,
        leverage: Decimal,
        limit_pct: Decimal,
        equity: Decimal,
    },
    EffectiveLeverageUnknown {
        set: Decimal,
        limit: Decimal,
    },
    Leverage {
        set: Decimal,
        notional: Decimal,
        equity: Decimal,
        limit: Decimal,
        account: Option<Decimal>,
        bracket: Option<Decimal>,
    },
    BeyondLeverageTiers {
        notional: Decimal,
    },
    NoInstrumentRules,
    Rounded {
        requested: Decimal,
        quantity: Decimal,
        requested_price: Option<Decimal>,
        price: Option<Decimal>,
    },
    BelowMinQuantity {
        quantity: Decimal,
        min: Decimal,
    },
    BelowMinNotional {
        notional: Decimal,
        min: Decimal,
    },
    ChangesPosition {
        open: u32,
        limit: u32,
    },
    OpensPosition {
        open: u32,
        limit: u32,
    },
    OrdersPerMinute {
        recent: u32,
        limit: u32,
    },
    DayStartNotPositive(Decimal),
    DailyLoss {
        equity: Decimal,
        start: Decimal,
        limit: Decimal,
    },
    NoAccountDailyLimit,
    AccountDayStartNotPositive(Decimal),
    AccountLossOverflow,
    AccountDailyLoss {
        loss: Decimal,
        start: Decimal,
        limit: Decimal,
        breached: bool,
    },
    PeakNotPositive(Decimal),
    Drawdown {
        equity: Decimal,
        peak: Decimal,
        limit: Decimal,
    },
    NoPriceToCompare,
    NoLastPrice(Decimal),
    LastPriceNotPositive(Decimal),
    PriceBand {
        price: Decimal,
        last: Decimal,
        limit: Decimal,
    },
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Quantity(quantity) => write!(f, "quantity {quantity}"),
            Self::QuantityNotPositive(quantity) => write!(f, "quantity {quantity} is not positive"),
            Self::NotReduceOnly => f.write_str("not reduce-only"),
            Self::ReducesPosition(position) => write!(f, "reduces position {position}"),
            Self::ReduceOnlyBeyondPosition { quantity, position } => write!(
                f,
                "reduce-only order of {quantity} does not reduce position {position}"
            ),
            Self::KillSwitch { engaged: true } => f.write_str("kill switch engaged"),
            Self::KillSwitch { engaged: false } => f.write_str("kill switch released"),
            Self::Price(price) => write!(f, "price {price}"),
            Self::NoPrice => f.write_str("no positive limit or reference price"),
            Self::StopLoss(stop) => write!(f, "stop loss {stop}"),
            Self::StopLossNotPositive(stop) => {
                write!(f, "stop loss {stop} is not a positive price")
            }
            Self::NoStopLoss => f.write_str("no stop loss"),
            Self::NeedsPriceAndStop => f.write_str("needs both a price and a stop loss"),
            Self::StopOnWrongSide { stop, price, side } => write!(
                f,
                "stop loss {stop} is on the wrong side of price {price} for a {side:?}"
            ),
            Self::StopDistanceOverflow { stop, price } => write!(
                f,
                "distance of stop loss {stop} from price {price} overflowed"
            ),
            Self::StopDistance { stop, price, limit } => {
                let distance = Computed(percent_of((price - stop).abs(), price));
                write!(
                    f,
                    "stop loss {stop} is {distance}% from price {price}; limit {limit}%"
                )
            }
            Self::LossAtStopOverflow => f.write_str("loss at stop overflowed"),
            Self::RiskPerTrade {
                loss,
                limit_pct,
                equity,
            } => {
                let limit = Computed(share_of(equity, limit_pct).map(|limit| limit.normalize()));
                write!(
                    f,
                    "loss at stop {loss} against {limit} ({limit_pct}% of equity {equity})"
                )
            }
            Self::LeverageNotPositive(leverage) => write!(f, "leverage {leverage} is not positive"),
            Self::MarginUnknown => {
                f.write_str("needs a price, and the position's margin overflowed or is unknown")
            }
            Self::Margin {
                notional,
                leverage,
                limit_pct,
                equity,
            } => {
                let margin = notional.checked_div(leverage);
                let margin = Computed(margin.map(|margin| margin.round_dp(8).normalize()));
                let limit = Computed(share_of(equity, limit_pct).map(|limit| limit.normalize()));
                write!(
                    f,
                    "margin {margin} at leverage {leverage} against {limit} ({limit_pct}% of \
                     equity {equity})"
                )
            }
            Self::EffectiveLeverageUnknown { set, limit } => write!(
                f,
                "leverage {set} set; effective leverage unknown; limit {limit}"
            ),
            Self::Leverage {
                set,
                notional,
                equity,
                limit,
                account,
                bracket,
            } => {
                let effective = notional.checked_div(equity);
                let effective = Computed(effective.map(|ratio| ratio.round_dp(4).normalize()));
                write!(
                    f,
                    "leverage {set} set, {effective} effective; limit {limit}"
                )?;
                if let Some(account) = account {
                    write!(f, "; account limit {account}")?;
                }
                if let Some(bracket) = bracket {
                    write!(f, "; exchange bracket {bracket} for notional {notional}")?;
                }
                Ok(())
            }
            Self::BeyondLeverageTiers { notional } => write!(
                f,
                "notional {notional} is above every leverage bracket of the instrument"
            ),
            Self::NoInstrumentRules => f.write_str("no instrument rules; not rounded"),
            Self::Rounded {
                requested,
                quantity,
                requested_price,
                price,
            } => {
                write!(f, "quantity {requested} rounded to {quantity}")?;
                if let (Some(requested), Some(price)) = (requested_price, price)
                    && requested != price
                {
                    write!(f, "; price {requested} rounded to {price}")?;
                }
                Ok(())
            }
            Self::BelowMinQuantity { quantity, min } => write!(
                f,
                "quantity {quantity} after rounding is below the minimum {min}"
            ),
            Self::BelowMinNotional { notional, min } => write!(
                f,
                "notional {notional} after rounding is below the minimum {min}"
            ),
            Self::ChangesPosition { open, limit } => write!(
                f,
                "changes an existing position; {open} open, limit {limit}"
            ),
            Self::OpensPosition { open, limit } => {
                write!(f, "opens a position with {open} open; limit {limit}")
            }
            Self::OrdersPerMinute { recent, limit } => write!(
                f,
                "{recent} orders in the last minute before this one; limit {limit}"
            ),
            Self::DayStartNotPositive(start) => {
                write!(f, "day-start equity {start} is not positive")
            }
            Self::DailyLoss {
                equity,
                start,
                limit,
            } => {
                let loss = Computed(start.checked_sub(equity).and_then(|l| percent_of(l, start)));
                write!(
                    f,
                    "loss today {loss}% of day-start equity {start}; limit {limit}%"
                )
            }
            Self::NoAccountDailyLimit => f.write_str("no account daily loss limit set"),
            Self::AccountDayStartNotPositive(start) => {
                write!(f, "account day-start equity {start} is not positive")
            }
            Self::AccountLossOverflow => f.write_str("account loss today overflowed"),
            Self::AccountDailyLoss {
                loss,
                start,
                limit,
                breached,
            } => {
                let share = Computed(percent_of(loss, start));
                write!(
                    f,
                    "account loss today {loss} is {share}% of day-start equity {start}; limit \
                     {limit}%"
                )?;
                if breached {
                    f.write_str("; breached earlier today")?;
                }
                Ok(())
            }
            Self::PeakNotPositive(peak) => write!(f, "peak equity {peak} is not positive"),
            Self::Drawdown {
                equity,
                peak,
                limit,
            } => {
                let drawdown = peak.checked_sub(equity).and_then(|d| percent_of(d, peak));
                let drawdown = Computed(drawdown);
                write!(
                    f,
                    "drawdown {drawdown}% from peak equity {peak}; limit {limit}%"
                )
            }
            Self::NoPriceToCompare => f.write_str("no price to compare"),
            Self::NoLastPrice(price) => write!(f, "price {price}; no last price to compare with"),
            Self::LastPriceNotPositive(last) => write!(f, "last price {last} is not positive"),
            Self::PriceBand { price, last, limit } => {
                let distance = Computed(percent_of((price - last).abs(), last));
                write!(
                    f,
                    "price {price} is {distance}% from last price {last}; limit {limit}%"
                )
            }
        }
    }
}

/// A computed value in a detail text, or `overflowed` where the arithmetic overflowed.
struct Computed(Option<Decimal>);

impl fmt::Display for Computed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("overflowed"),
        }
    }
}

/// Decimal places of the percentages and ratios that rules compare and record.
const RATIO_PLACES: u32 = 4;

/// Decimal places of the margin that `max_position_size` compares and records.
const MARGIN_PLACES: u32 = 8;

/// `part / whole` in percent, rounded to 4 decimal places; `None` if `whole` is not positive.
fn percent_of(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if !is_positive(whole) {
        return None;
    }
    let ratio = part.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(whole)?;
    Some(ratio.round_dp(RATIO_PLACES).normalize())
}

/// A limit that a rounded ratio is compared with, together with the bounds outside which the
/// comparison needs no division.
///
/// Division is the costly step of the gate, so a rule divides only when the unrounded ratio lies
/// within one unit of the last decimal place from the limit, where rounding can decide the
/// outcome. Elsewhere one multiplication settles it, because rounding moves the ratio by at most
/// half a unit. The bounds depend on the limit alone, so a gate computes them once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RoundedLimit {
    limit: Decimal,
    /// Decimal places the ratio is rounded to before the comparison.
    places: u32,
    /// Whether the ratio is a percentage: `part * 100 / whole`.
    percent: bool,
    /// `part <= below * whole` proves the rounded ratio is below the limit.
    below: Option<Decimal>,
    /// `part >= above * whole` proves the rounded ratio is above the limit.
    above: Option<Decimal>,
}

impl RoundedLimit {
    /// A limit on `part / whole` rounded to `places` decimal places.
    pub(crate) fn ratio(limit: Decimal, places: u32) -> Self {
        Self::build(limit, places, false)
    }

    /// A limit on `part / whole` in percent, rounded as [`percent_of`] rounds it.
    pub(crate) fn percent(limit: Decimal) -> Self {
        Self::build(limit, RATIO_PLACES, true)
    }

    fn build(limit: Decimal, places: u32, percent: bool) -> Self {
        let unit = Decimal::new(1, places);
        let unscale = |bound: Decimal| {
            if percent {
                share_of(bound, Decimal::ONE)
            } else {
                Some(bound)
            }
        };
        Self {
            limit,
            places,
            percent,
            below: limit.checked_sub(unit).and_then(unscale),
            above: limit.checked_add(unit).and_then(unscale),
        }
    }

    /// Compares the rounded ratio `part / whole` with the limit; `None` if `whole` is not
    /// positive or the ratio overflows.
    fn cmp(&self, part: Decimal, whole: Decimal) -> Option<std::cmp::Ordering> {
        use std::cmp::Ordering;

        if !is_positive(whole) {
            return None;
        }
        // A zero part has a zero ratio, below any limit whose lower bound is not negative, so
        // it needs no multiplication (a backtest's price band and a drawdown at the peak).
        if part.is_zero() && self.below.is_some_and(|below| below.is_sign_positive()) {
            return Some(Ordering::Less);
        }
        // NOTE: a product smaller than about 1e-28 rounds to zero. With a limit of zero or less
        // and a tiny whole, `below * whole` can round to zero, and a zero part then compares as
        // less than the limit even where its rounded ratio is not.
        let below = self
            .below
            .and_then(|below| cmp_with_product(part, below, whole));
        if below.is_some_and(Ordering::is_le) {
            return Some(Ordering::Less);
        }
        let above = self
            .above
            .and_then(|above| cmp_with_product(part, above, whole));
        if above.is_some_and(Ordering::is_ge) {
            return Some(Ordering::Greater);
        }
        let numerator = if self.percent {
            part.checked_mul(Decimal::ONE_HUNDRED)?
        } else {
            part
        };
        let ratio = numerator.checked_div(whole)?;
        Some(ratio.round_dp(self.places).cmp(&self.limit))
    }
}

/// The configuration's limits on rounded ratios, with their precomputed bounds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Limits {
    stop_distance: RoundedLimit,
    leverage: RoundedLimit,
    daily_loss: RoundedLimit,
    drawdown: RoundedLimit,
    price_band: RoundedLimit,
}

impl Limits {
    pub(crate) fn new(config: &RiskConfig) -> Self {
        Self {
            stop_distance: RoundedLimit::percent(config.max_stop_distance_pct),
            leverage: RoundedLimit::ratio(config.max_leverage, RATIO_PLACES),
            daily_loss: RoundedLimit::percent(config.daily_loss_limit_pct),
            drawdown: RoundedLimit::percent(config.max_drawdown_pct),
            price_band: RoundedLimit::percent(config.price_band_pct),
        }
    }
}

/// Returns whether `value` is above zero, as `value > Decimal::ZERO` but from the sign and the
/// mantissa, without the call into the general comparison.
pub(crate) fn is_positive(value: Decimal) -> bool {
    !value.is_zero() && value.is_sign_positive()
}

/// Returns whether `value` is below zero, as `value < Decimal::ZERO` does.
fn is_negative(value: Decimal) -> bool {
    !value.is_zero() && value.is_sign_negative()
}

/// Powers of ten up to the largest scale of a [`Decimal`], as `i128`.
const POWERS_OF_TEN: [i128; Decimal::MAX_SCALE as usize + 1] = {
    let mut powers = [1_i128; Decimal::MAX_SCALE as usize + 1];
    let mut index = 1;
    while index < powers.len() {
        powers[index] = powers[index - 1] * 10;
        index += 1;
    }
    powers
};

/// Compares `value` with the product `factor * other`, with the same result as
/// `factor.checked_mul(other).map(|product| value.cmp(&product))`.
///
/// `checked_mul` does not round a product whose scale is at most 28 and whose mantissa fits in
/// 96 bits. For such a product, comparing the mantissas in `i128` at a common scale is exact
/// and skips building the product. Every other case, and any step that would overflow `i128`,
/// takes the `Decimal` arithmetic.
fn cmp_with_product(value: Decimal, factor: Decimal, other: Decimal) -> Option<std::cmp::Ordering> {
    exact_product_cmp(value, factor, other)
        .or_else(|| factor.checked_mul(other).map(|product| value.cmp(&product)))
}

/// Compares in `i128` for [`cmp_with_product`]. Returns `None` where that is not exact.
fn exact_product_cmp(
    value: Decimal,
    factor: Decimal,
    other: Decimal,
) -> Option<std::cmp::Ordering> {
    let product_scale = factor.scale() + other.scale();
    if product_scale > Decimal::MAX_SCALE {
        return None;
    }
    let product = factor.mantissa().checked_mul(other.mantissa())?;
    if product.unsigned_abs() >> 96 != 0 {
        return None;
    }
    let value_scale = value.scale();
    let (left, right) = if value_scale <= product_scale {
        let shift = POWERS_OF_TEN[(product_scale - value_scale) as usize];
        (value.mantissa().checked_mul(shift)?, product)
    } else {
        let shift = POWERS_OF_TEN[(value_scale - product_scale) as usize];
        (value.mantissa(), product.checked_mul(shift)?)
    };
    Some(left.cmp(&right))
}

/// `pct` percent of `whole`. Dividing by 100 only moves the decimal point, so it is done by
/// rescaling instead of a division wherever the scale allows.
fn share_of(whole: Decimal, pct: Decimal) -> Option<Decimal> {
    let mut product = whole.checked_mul(pct)?;
    let scale = product.scale() + 2;
    if scale <= 28 && product.set_scale(scale).is_ok() {
        return Some(product);
    }
    product.checked_div(Decimal::ONE_HUNDRED)
}

fn quantity_positive(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let quantity = inputs.intent.quantity;
    if is_positive(quantity) {
        (true, Detail::Quantity(quantity))
    } else {
        (false, Detail::QuantityNotPositive(quantity))
    }
}

fn reduce_only_within_position(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let position = inputs.context.position;
    if !inputs.intent.reduce_only {
        return (true, Detail::NotReduceOnly);
    }
    if inputs.reduces_risk {
        return (true, Detail::ReducesPosition(position));
    }
    let quantity = inputs.intent.quantity;
    (
        false,
        Detail::ReduceOnlyBeyondPosition { quantity, position },
    )
}

fn kill_switch_released(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let engaged = inputs.context.kill_switch_engaged;
    (!engaged, Detail::KillSwitch { engaged })
}

fn price_present(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    match inputs.price {
        Some(price) => (true, Detail::Price(price)),
        None => (false, Detail::NoPrice),
    }
}

fn stop_loss_present(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    match inputs.intent.stop_loss {
        Some(stop) if is_positive(stop) => (true, Detail::StopLoss(stop)),
        Some(stop) => (false, Detail::StopLossNotPositive(stop)),
        None => (false, Detail::NoStopLoss),
    }
}

fn stop_loss_distance(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let (Some(price), Some(stop)) = (inputs.price, inputs.intent.stop_loss) else {
        return (false, Detail::NeedsPriceAndStop);
    };
    let side = inputs.intent.side;
    let protective_side = match side {
        Side::Buy => stop < price,
        Side::Sell => stop > price,
    };
    if !protective_side {
        return (false, Detail::StopOnWrongSide { stop, price, side });
    }

    let limit = inputs.config.max_stop_distance_pct;
    let stop_distance = inputs.limits.stop_distance;
    let ordering = inputs
        .stop_distance
        .and_then(|distance| stop_distance.cmp(distance, price));
    let Some(ordering) = ordering else {
        return (false, Detail::StopDistanceOverflow { stop, price });
    };
    let detail = Detail::StopDistance { stop, price, limit };
    (ordering.is_le(), detail)
}

fn risk_per_trade(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    if inputs.price.is_none() || inputs.intent.stop_loss.is_none() {
        return (false, Detail::NeedsPriceAndStop);
    }
    let equity = inputs.context.equity;
    let limit_pct = inputs.config.risk_per_trade_pct;
    let loss = inputs
        .stop_distance
        .and_then(|distance| inputs.added_quantity.checked_mul(distance));
    let (Some(loss), Some(limit)) = (loss, share_of(equity, limit_pct)) else {
        return (false, Detail::LossAtStopOverflow);
    };
    let detail = Detail::RiskPerTrade {
        loss,
        limit_pct,
        equity,
    };
    (is_positive(equity) && loss <= limit, detail)
}

fn max_position_size(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let leverage = inputs.context.leverage;
    let equity = inputs.context.equity;
    let limit_pct = inputs.config.max_position_pct;
    if !is_positive(leverage) {
        return (false, Detail::LeverageNotPositive(leverage));
    }
    let (Some(notional), Some(limit)) = (inputs.notional_after, share_of(equity, limit_pct)) else {
        return (false, Detail::MarginUnknown);
    };
    let margin_limit = RoundedLimit::ratio(limit, MARGIN_PLACES);
    let Some(ordering) = margin_limit.cmp(notional, leverage) else {
        return (false, Detail::MarginUnknown);
    };
    let detail = Detail::Margin {
        notional,
        leverage,
        limit_pct,
        equity,
    };
    (is_positive(equity) && ordering.is_le(), detail)
}

fn max_leverage(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let set = inputs.context.leverage;
    let bot_limit = inputs.config.max_leverage;
    let account = inputs.context.account_max_leverage;
    let equity = inputs.context.equity;
    let notional = inputs.notional_after;
    let bracket = match (inputs.instrument, notional) {
        (Some(instrument), Some(notional)) if !instrument.leverage_tiers.is_empty() => {
            match instrument.max_leverage_for(notional) {
                Some(bracket) => Some(bracket),
                None => return (false, Detail::BeyondLeverageTiers { notional }),
            }
        }
        _ => None,
    };
    let limit = [account, bracket]
        .into_iter()
        .flatten()
        .fold(bot_limit, Decimal::min);
    let rounded_limit = if limit == bot_limit {
        inputs.limits.leverage
    } else {
        RoundedLimit::ratio(limit, RATIO_PLACES)
    };
    let ordering = notional.and_then(|n| rounded_limit.cmp(n, equity));
    let (Some(notional), Some(ordering)) = (notional, ordering) else {
        return (false, Detail::EffectiveLeverageUnknown { set, limit });
    };
    let detail = Detail::Leverage {
        set,
        notional,
        equity,
        limit,
        account,
        bracket,
    };
    (set <= limit && ordering.is_le(), detail)
}

fn max_open_positions(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let open = inputs.context.open_positions;
    let limit = inputs.config.max_open_positions;
    if !inputs.context.position.is_zero() {
        return (true, Detail::ChangesPosition { open, limit });
    }
    (open < limit, Detail::OpensPosition { open, limit })
}

fn max_orders_per_minute(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let recent = inputs.context.orders_last_minute;
    let limit = inputs.config.max_orders_per_minute;
    (recent < limit, Detail::OrdersPerMinute { recent, limit })
}

fn daily_loss_limit(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let start = inputs.context.day_start_equity;
    let equity = inputs.context.equity;
    let limit = inputs.config.daily_loss_limit_pct;
    let loss = start.checked_sub(equity);
    let Some(ordering) = loss.and_then(|loss| inputs.limits.daily_loss.cmp(loss, start)) else {
        return (false, Detail::DayStartNotPositive(start));
    };
    let detail = Detail::DailyLoss {
        equity,
        start,
        limit,
    };
    (ordering.is_lt(), detail)
}

/// Passes while the account's loss today is below its limit and no breach was recorded today.
/// It compares `loss * 100` with `limit * start`, so no division or rounding decides it.
fn account_daily_loss_limit(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let Some(account) = inputs.context.account_daily_loss else {
        return (true, Detail::NoAccountDailyLimit);
    };
    let start = account.day_start_equity;
    if !is_positive(start) {
        return (false, Detail::AccountDayStartNotPositive(start));
    }
    let scaled_loss = account.loss.checked_mul(Decimal::ONE_HUNDRED);
    let scaled_limit = start.checked_mul(account.limit_pct);
    let (Some(scaled_loss), Some(scaled_limit)) = (scaled_loss, scaled_limit) else {
        return (false, Detail::AccountLossOverflow);
    };
    let detail = Detail::AccountDailyLoss {
        loss: account.loss,
        start,
        limit: account.limit_pct,
        breached: account.breached,
    };
    (!account.breached && scaled_loss < scaled_limit, detail)
}

fn max_drawdown(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let peak = inputs.context.peak_equity;
    let equity = inputs.context.equity;
    let limit = inputs.config.max_drawdown_pct;
    let drawdown = peak.checked_sub(equity);
    let ordering = drawdown.and_then(|drawdown| inputs.limits.drawdown.cmp(drawdown, peak));
    let Some(ordering) = ordering else {
        return (false, Detail::PeakNotPositive(peak));
    };
    let detail = Detail::Drawdown {
        equity,
        peak,
        limit,
    };
    (ordering.is_lt(), detail)
}

fn price_band(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let Some(price) = inputs.price else {
        return (false, Detail::NoPriceToCompare);
    };
    let Some(last) = inputs.context.last_price else {
        return (false, Detail::NoLastPrice(price));
    };
    let limit = inputs.config.price_band_pct;
    // The price is positive, so only a last price far below zero overflows the distance.
    let distance = price.checked_sub(last).map(|distance| distance.abs());
    let ordering = distance.and_then(|distance| inputs.limits.price_band.cmp(distance, last));
    let Some(ordering) = ordering else {
        return (false, Detail::LastPriceNotPositive(last));
    };
    let detail = Detail::PriceBand { price, last, limit };
    (ordering.is_le(), detail)
}

fn instrument_rules(inputs: &RuleInputs<'_>) -> (bool, Detail) {
    let Some(instrument) = inputs.instrument else {
        return (true, Detail::NoInstrumentRules);
    };
    let quantity = inputs.intent.quantity;
    if quantity < instrument.min_quantity {
        let min = instrument.min_quantity;
        return (false, Detail::BelowMinQuantity { quantity, min });
    }
    if let (Some(min), Some(price), false) = (
        instrument.min_notional,
        inputs.price,
        inputs.intent.reduce_only,
    ) {
        let notional = quantity.checked_mul(price).unwrap_or(Decimal::MAX);
        if notional < min {
            return (false, Detail::BelowMinNotional { notional, min });
        }
    }
    let (requested, requested_price) = inputs.requested;
    let detail = Detail::Rounded {
        requested,
        quantity,
        requested_price,
        price: inputs.intent.price,
    };
    (true, detail)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    /// The comparison the fast path must reproduce: divide, round, compare.
    fn exact_cmp(numerator: Decimal, denominator: Decimal, places: u32, limit: Decimal) -> i32 {
        let quotient = (numerator / denominator).round_dp(places);
        quotient.cmp(&limit) as i32
    }

    #[test]
    fn rounded_limit_matches_division() {
        let limits = ["5", "5.00004", "5.00007", "0.0001", "100", "4.99995"];
        let denominators = ["100000", "95238.1", "3", "7.123456789", "0.5"];
        let mut compared = 0;
        for limit in limits.map(dec) {
            for denominator in denominators.map(dec) {
                let centre = limit * denominator;
                let step = Decimal::new(1, 5) * denominator;
                for offset in -25..=25 {
                    let numerator = centre + step * Decimal::from(offset);
                    let fast = RoundedLimit::ratio(limit, 4).cmp(numerator, denominator);
                    let fast = fast.unwrap();
                    let exact = exact_cmp(numerator, denominator, 4, limit);
                    assert_eq!(
                        fast as i32, exact,
                        "{numerator} / {denominator} against {limit}"
                    );
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 6 * 5 * 51);
    }

    #[test]
    fn percent_limit_matches_percent_of() {
        let limit = dec("5");
        let rounded = RoundedLimit::percent(limit);
        let whole = dec("95238.1");
        for offset in -30..=30 {
            let part = dec("4761.905") + Decimal::new(offset, 3);
            let exact = percent_of(part, whole).unwrap().cmp(&limit);
            assert_eq!(rounded.cmp(part, whole), Some(exact), "{part}");
        }
    }

    /// Checks a zero part against `limit` as a ratio and as a percentage with the division.
    fn assert_zero_part_matches(limit: Decimal, whole: Decimal) {
        let ratio = RoundedLimit::ratio(limit, 4).cmp(Decimal::ZERO, whole);
        let exact = exact_cmp(Decimal::ZERO, whole, 4, limit);
        assert_eq!(
            ratio.map(|o| o as i32),
            Some(exact),
            "0 / {whole} against {limit}"
        );
        let percent = RoundedLimit::percent(limit).cmp(Decimal::ZERO, whole);
        let exact = percent_of(Decimal::ZERO, whole).map(|share| share.cmp(&limit));
        assert_eq!(percent, exact, "0% of {whole} against {limit}%");
    }

    #[test]
    fn zero_part_matches_division() {
        let limits = ["0.0001", "0.0002", "1", "5", "20", "125", "0.00015"];
        let wholes = [
            "0.00000001",
            "1",
            "3",
            "95238.1",
            "79228162514264337593543950335",
        ];
        for limit in limits.map(dec) {
            for whole in wholes.map(dec) {
                assert_zero_part_matches(limit, whole);
            }
        }
    }

    /// SplitMix64, a small deterministic generator for the randomized comparisons below.
    fn split_mix(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Draws a decimal of any sign, mantissa width and scale, negative zero included.
    fn random_decimal(state: &mut u64) -> Decimal {
        let draw = split_mix(state);
        let mantissa = match draw % 4 {
            0 => 0,
            1 => i128::from(split_mix(state) % 1_000),
            2 => i128::from(split_mix(state)),
            _ => i128::from(split_mix(state)) << 32 | i128::from(split_mix(state) as u32),
        };
        let scale = (draw >> 8) as u32 % 29;
        let mut value = Decimal::from_i128_with_scale(mantissa, scale);
        value.set_sign_negative(draw >> 16 & 1 == 1);
        value
    }

    #[test]
    fn sign_tests_match_comparison() {
        let mut state = 3;
        for _ in 0..100_000 {
            let value = random_decimal(&mut state);
            assert_eq!(is_positive(value), value > Decimal::ZERO, "{value:?}");
            assert_eq!(is_negative(value), value < Decimal::ZERO, "{value:?}");
        }
    }

    #[test]
    fn random_zero_part_matches_division() {
        let mut state = 5;
        for _ in 0..20_000 {
            // Limits of zero and below are drawn too, because their lower bound is negative.
            let limit = random_decimal(&mut state).round_dp(4);
            // A whole below 1e-20 is left out, because of the rounding that the NOTE in
            // `RoundedLimit::cmp` describes.
            let whole = random_decimal(&mut state).abs();
            if whole < Decimal::new(1, 20) {
                continue;
            }
            assert_zero_part_matches(limit, whole);
        }
    }

    #[test]
    fn rounded_limit_rejects_non_positive_whole() {
        let limit = RoundedLimit::ratio(dec("1"), 4);
        assert_eq!(limit.cmp(dec("1"), dec("0")), None);
        assert_eq!(limit.cmp(dec("1"), dec("-2")), None);
    }

    #[test]
    fn product_cmp_matches_decimal() {
        let mut state = 11;
        let mut decided = 0;
        for _ in 0..200_000 {
            let value = random_decimal(&mut state);
            let factor = random_decimal(&mut state);
            let other = random_decimal(&mut state);
            let expected = factor.checked_mul(other).map(|product| value.cmp(&product));
            assert_eq!(
                cmp_with_product(value, factor, other),
                expected,
                "{value:?} against {factor:?} * {other:?}"
            );
            decided += usize::from(exact_product_cmp(value, factor, other).is_some());
        }
        // Over a fifth of the draws take the i128 comparison. The rest have scales that sum past
        // 28 or products past 96 bits.
        assert!(decided > 40_000, "only {decided} draws took the i128 path");
    }

    #[test]
    fn product_cmp_equal_across_scales() {
        let cases = [
            ("500", "5", "100"),
            ("500.000", "0.05", "10000"),
            ("2.5", "-0.5", "-5"),
            ("0", "0", "123.456"),
            (
                "0.0000000000000000000000000001",
                "0.00000000000001",
                "0.00000000000001",
            ),
        ];
        for (value, factor, other) in cases {
            let (value, factor, other) = (dec(value), dec(factor), dec(other));
            assert_eq!(
                cmp_with_product(value, factor, other),
                Some(std::cmp::Ordering::Equal),
                "{value} against {factor} * {other}"
            );
        }
    }

    #[test]
    fn share_of_rescales_exactly() {
        let cases = [
            ("10000", "1", "100"),
            ("10012.34", "50", "5006.17"),
            (
                "0.000000000000000000000001",
                "3",
                "0.00000000000000000000000003",
            ),
        ];
        for (whole, pct, expected) in cases {
            assert_eq!(
                share_of(dec(whole), dec(pct)),
                Some(dec(expected)),
                "{whole}"
            );
        }
    }
}
