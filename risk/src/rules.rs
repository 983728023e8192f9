//! The risk rules. Each one looks at an intent, the bot's configuration and its context and
//! returns a [`RuleCheck`] whose detail shows the values it compared.
//!
//! Arithmetic is checked, so an absurd quantity or price fails its rule instead of panicking.

use keyward_events::bot::{OrderIntent, RuleCheck, Side};
use rust_decimal::Decimal;

use crate::config::RiskConfig;
use crate::gate::RiskContext;

/// The orders a rule may block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Keeps the order itself valid, so it blocks every order.
    EveryOrder,
    /// Caps new risk, so it never blocks an order that only reduces the position.
    NewRisk,
}

type RuleFn = fn(&RuleInputs<'_>) -> Outcome;

/// Every rule in evaluation order, with its recorded name.
const RULES: &[(&str, Scope, RuleFn)] = &[
    ("quantity_positive", Scope::EveryOrder, quantity_positive),
    (
        "reduce_only_within_position",
        Scope::EveryOrder,
        reduce_only_within_position,
    ),
    ("kill_switch_released", Scope::NewRisk, kill_switch_released),
    ("price_present", Scope::NewRisk, price_present),
    ("stop_loss_present", Scope::NewRisk, stop_loss_present),
    ("stop_loss_distance", Scope::NewRisk, stop_loss_distance),
    ("risk_per_trade", Scope::NewRisk, risk_per_trade),
    ("max_position_size", Scope::NewRisk, max_position_size),
    ("max_leverage", Scope::NewRisk, max_leverage),
    ("max_open_positions", Scope::NewRisk, max_open_positions),
    (
        "max_orders_per_minute",
        Scope::NewRisk,
        max_orders_per_minute,
    ),
    ("daily_loss_limit", Scope::NewRisk, daily_loss_limit),
    ("max_drawdown", Scope::NewRisk, max_drawdown),
    ("price_band", Scope::NewRisk, price_band),
];

/// Names of every rule, in the order their results are recorded.
pub fn rule_names() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|(name, _, _)| *name)
}

/// Evaluates every rule, marking the new-risk rules as not enforced on a reducing order.
pub(crate) fn evaluate_all(inputs: &RuleInputs<'_>) -> Vec<RuleCheck> {
    RULES
        .iter()
        .map(|(name, scope, rule)| {
            let outcome = rule(inputs);
            RuleCheck {
                rule: (*name).to_owned(),
                passed: outcome.passed,
                detail: outcome.detail,
                enforced: *scope == Scope::EveryOrder || !inputs.reduces_risk,
            }
        })
        .collect()
}

struct Outcome {
    passed: bool,
    detail: String,
}

fn pass(detail: String) -> Outcome {
    Outcome {
        passed: true,
        detail,
    }
}

fn fail(detail: String) -> Outcome {
    Outcome {
        passed: false,
        detail,
    }
}

/// The intent, its context and the facts every rule derives from them.
pub(crate) struct RuleInputs<'a> {
    config: &'a RiskConfig,
    intent: &'a OrderIntent,
    context: &'a RiskContext,
    /// The order opposes the position and is no larger than it.
    reduces_risk: bool,
    /// Quantity left once the order has closed any opposite position: the new exposure.
    added_quantity: Decimal,
    /// Signed position once the order fills, if representable.
    position_after: Option<Decimal>,
    /// The intent's price when positive.
    price: Option<Decimal>,
}

impl<'a> RuleInputs<'a> {
    pub(crate) fn new(
        config: &'a RiskConfig,
        intent: &'a OrderIntent,
        context: &'a RiskContext,
    ) -> Self {
        let signed_quantity = match intent.side {
            Side::Buy => intent.quantity,
            Side::Sell => -intent.quantity,
        };
        let position = context.position;
        let opposes = (position > Decimal::ZERO && signed_quantity < Decimal::ZERO)
            || (position < Decimal::ZERO && signed_quantity > Decimal::ZERO);
        let closable = if opposes {
            position.abs()
        } else {
            Decimal::ZERO
        };
        let reduces_risk = opposes && intent.quantity <= closable;
        Self {
            config,
            intent,
            context,
            reduces_risk,
            added_quantity: (intent.quantity - closable).max(Decimal::ZERO),
            position_after: position.checked_add(signed_quantity),
            price: intent.price.filter(|price| *price > Decimal::ZERO),
        }
    }

    /// Notional of the position once the order fills, at the intent's price.
    fn notional_after(&self) -> Option<Decimal> {
        self.position_after?.abs().checked_mul(self.price?)
    }
}

/// `part / whole` in percent, rounded to 4 decimal places; `None` if `whole` is not positive.
fn percent_of(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole <= Decimal::ZERO {
        return None;
    }
    let ratio = part.checked_div(whole)?.checked_mul(Decimal::ONE_HUNDRED)?;
    Some(ratio.round_dp(4).normalize())
}

/// `pct` percent of `whole`.
fn share_of(whole: Decimal, pct: Decimal) -> Option<Decimal> {
    whole.checked_mul(pct)?.checked_div(Decimal::ONE_HUNDRED)
}

fn quantity_positive(inputs: &RuleInputs<'_>) -> Outcome {
    let quantity = inputs.intent.quantity;
    if quantity > Decimal::ZERO {
        pass(format!("quantity {quantity}"))
    } else {
        fail(format!("quantity {quantity} is not positive"))
    }
}

fn reduce_only_within_position(inputs: &RuleInputs<'_>) -> Outcome {
    let position = inputs.context.position;
    if !inputs.intent.reduce_only {
        return pass("not reduce-only".to_owned());
    }
    if inputs.reduces_risk {
        return pass(format!("reduces position {position}"));
    }
    let quantity = inputs.intent.quantity;
    fail(format!(
        "reduce-only order of {quantity} does not reduce position {position}"
    ))
}

fn kill_switch_released(inputs: &RuleInputs<'_>) -> Outcome {
    if inputs.context.kill_switch_engaged {
        fail("kill switch engaged".to_owned())
    } else {
        pass("kill switch released".to_owned())
    }
}

fn price_present(inputs: &RuleInputs<'_>) -> Outcome {
    match inputs.price {
        Some(price) => pass(format!("price {price}")),
        None => fail("no positive limit or reference price".to_owned()),
    }
}

fn stop_loss_present(inputs: &RuleInputs<'_>) -> Outcome {
    match inputs.intent.stop_loss {
        Some(stop) if stop > Decimal::ZERO => pass(format!("stop loss {stop}")),
        Some(stop) => fail(format!("stop loss {stop} is not a positive price")),
        None => fail("no stop loss".to_owned()),
    }
}

fn stop_loss_distance(inputs: &RuleInputs<'_>) -> Outcome {
    let (Some(price), Some(stop)) = (inputs.price, inputs.intent.stop_loss) else {
        return fail("needs both a price and a stop loss".to_owned());
    };
    let protective_side = match inputs.intent.side {
        Side::Buy => stop < price,
        Side::Sell => stop > price,
    };
    if !protective_side {
        let side = inputs.intent.side;
        return fail(format!(
            "stop loss {stop} is on the wrong side of price {price} for a {side:?}"
        ));
    }

    let limit = inputs.config.max_stop_distance_pct;
    let Some(distance) = percent_of((price - stop).abs(), price) else {
        return fail(format!(
            "distance of stop loss {stop} from price {price} overflowed"
        ));
    };
    let detail = format!("stop loss {stop} is {distance}% from price {price}; limit {limit}%");
    if distance <= limit {
        pass(detail)
    } else {
        fail(detail)
    }
}

fn risk_per_trade(inputs: &RuleInputs<'_>) -> Outcome {
    let (Some(price), Some(stop)) = (inputs.price, inputs.intent.stop_loss) else {
        return fail("needs both a price and a stop loss".to_owned());
    };
    let equity = inputs.context.equity;
    let limit_pct = inputs.config.risk_per_trade_pct;
    let loss = inputs.added_quantity.checked_mul((price - stop).abs());
    let (Some(loss), Some(limit)) = (loss, share_of(equity, limit_pct)) else {
        return fail("loss at stop overflowed".to_owned());
    };
    let detail = format!("loss at stop {loss} against {limit} ({limit_pct}% of equity {equity})");
    if equity > Decimal::ZERO && loss <= limit {
        pass(detail)
    } else {
        fail(detail)
    }
}

fn max_position_size(inputs: &RuleInputs<'_>) -> Outcome {
    let leverage = inputs.context.leverage;
    let equity = inputs.context.equity;
    let limit_pct = inputs.config.max_position_pct;
    if leverage <= Decimal::ZERO {
        return fail(format!("leverage {leverage} is not positive"));
    }
    let margin = inputs
        .notional_after()
        .and_then(|notional| notional.checked_div(leverage));
    let (Some(margin), Some(limit)) = (margin, share_of(equity, limit_pct)) else {
        return fail(
            "needs a price, and the position's margin overflowed or is unknown".to_owned(),
        );
    };
    let margin = margin.round_dp(8).normalize();
    let detail = format!(
        "margin {margin} at leverage {leverage} against {limit} ({limit_pct}% of equity {equity})"
    );
    if equity > Decimal::ZERO && margin <= limit {
        pass(detail)
    } else {
        fail(detail)
    }
}

fn max_leverage(inputs: &RuleInputs<'_>) -> Outcome {
    let set = inputs.context.leverage;
    let limit = inputs.config.max_leverage;
    let effective = inputs.notional_after().and_then(|notional| {
        let ratio = notional.checked_div(inputs.context.equity)?;
        (inputs.context.equity > Decimal::ZERO).then(|| ratio.round_dp(4).normalize())
    });
    let Some(effective) = effective else {
        return fail(format!(
            "leverage {set} set; effective leverage unknown; limit {limit}"
        ));
    };
    let detail = format!("leverage {set} set, {effective} effective; limit {limit}");
    if set <= limit && effective <= limit {
        pass(detail)
    } else {
        fail(detail)
    }
}

fn max_open_positions(inputs: &RuleInputs<'_>) -> Outcome {
    let open = inputs.context.open_positions;
    let limit = inputs.config.max_open_positions;
    if !inputs.context.position.is_zero() {
        return pass(format!(
            "changes an existing position; {open} open, limit {limit}"
        ));
    }
    let detail = format!("opens a position with {open} open; limit {limit}");
    if open < limit {
        pass(detail)
    } else {
        fail(detail)
    }
}

fn max_orders_per_minute(inputs: &RuleInputs<'_>) -> Outcome {
    let recent = inputs.context.orders_last_minute;
    let limit = inputs.config.max_orders_per_minute;
    let detail = format!("{recent} orders in the last minute before this one; limit {limit}");
    if recent < limit {
        pass(detail)
    } else {
        fail(detail)
    }
}

fn daily_loss_limit(inputs: &RuleInputs<'_>) -> Outcome {
    let start = inputs.context.day_start_equity;
    let limit = inputs.config.daily_loss_limit_pct;
    let loss = start.checked_sub(inputs.context.equity);
    let Some(loss) = loss.and_then(|loss| percent_of(loss, start)) else {
        return fail(format!("day-start equity {start} is not positive"));
    };
    let detail = format!("loss today {loss}% of day-start equity {start}; limit {limit}%");
    if loss < limit {
        pass(detail)
    } else {
        fail(detail)
    }
}

fn max_drawdown(inputs: &RuleInputs<'_>) -> Outcome {
    let peak = inputs.context.peak_equity;
    let limit = inputs.config.max_drawdown_pct;
    let drawdown = peak.checked_sub(inputs.context.equity);
    let Some(drawdown) = drawdown.and_then(|drawdown| percent_of(drawdown, peak)) else {
        return fail(format!("peak equity {peak} is not positive"));
    };
    let detail = format!("drawdown {drawdown}% from peak equity {peak}; limit {limit}%");
    if drawdown < limit {
        pass(detail)
    } else {
        fail(detail)
    }
}

fn price_band(inputs: &RuleInputs<'_>) -> Outcome {
    let Some(price) = inputs.price else {
        return fail("no price to compare".to_owned());
    };
    let Some(last) = inputs.context.last_price else {
        return fail(format!("price {price}; no last price to compare with"));
    };
    let limit = inputs.config.price_band_pct;
    let Some(distance) = percent_of((price - last).abs(), last) else {
        return fail(format!("last price {last} is not positive"));
    };
    let detail = format!("price {price} is {distance}% from last price {last}; limit {limit}%");
    if distance <= limit {
        pass(detail)
    } else {
        fail(detail)
    }
}
