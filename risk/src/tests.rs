//! Tests of the gate: each rule on its own, the verdict, and the reduce-only asymmetry.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use keyward_events::bot::{BotMode, OrderIntent, OrderKind, OrderRiskChecked, Side, Verdict};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_758_240_000_000).unwrap()
}

/// Buys 0.04 at 100000 with a 2% stop: 40% of 10000 equity as margin, 0.8% at risk.
fn entry() -> OrderIntent {
    OrderIntent {
        intent_id: Uuid::from_u128(1),
        symbol: "BTCUSDT".to_owned(),
        side: Side::Buy,
        kind: OrderKind::Market,
        quantity: dec("0.04"),
        price: Some(dec("100000")),
        stop_loss: Some(dec("98000")),
        reduce_only: false,
    }
}

fn context() -> RiskContext {
    RiskContext {
        last_price: Some(dec("100000")),
        ..RiskContext::new(BotMode::Backtest, now(), dec("10000"))
    }
}

fn gate() -> RiskGate {
    RiskGate::new(RiskConfig::default()).unwrap()
}

fn failed_rules(checked: &OrderRiskChecked) -> Vec<&str> {
    checked
        .rules
        .iter()
        .filter(|rule| !rule.passed)
        .map(|rule| rule.rule.as_str())
        .collect()
}

#[test]
fn gate_rejects_invalid_config() {
    let config = RiskConfig {
        max_leverage: Decimal::ZERO,
        ..RiskConfig::default()
    };
    let err = RiskGate::new(config).unwrap_err();
    assert_eq!(err.field, "max_leverage");
}

#[test]
fn valid_entry_is_approved() {
    let decision = gate().check(entry(), &context());

    assert_eq!(decision.checked.verdict, Verdict::Approved);
    assert_eq!(failed_rules(&decision.checked), Vec::<&str>::new());
    let approved = decision.approved.expect("approved order");
    assert_eq!(approved.intent(), &entry());
    assert_eq!(approved.mode(), BotMode::Backtest);
    assert_eq!(approved.checked_at(), now());
}

#[test]
fn verdict_records_mode_and_time() {
    let context = RiskContext {
        mode: BotMode::Paper,
        ..context()
    };
    let decision = gate().check(entry(), &context);
    assert_eq!(decision.checked.mode, BotMode::Paper);
    assert_eq!(decision.checked.checked_at, now());
    assert_eq!(decision.checked.intent, entry());
}

#[test]
fn rejection_carries_every_rule() {
    let intent = OrderIntent {
        stop_loss: None,
        ..entry()
    };
    let decision = gate().check(intent, &context());

    assert_eq!(decision.checked.verdict, Verdict::Rejected);
    assert!(decision.approved.is_none());
    let recorded: Vec<&str> = decision
        .checked
        .rules
        .iter()
        .map(|r| r.rule.as_str())
        .collect();
    let expected: Vec<&str> = rule_names().collect();
    assert_eq!(recorded, expected);
    assert!(decision.checked.rules.iter().all(|rule| rule.enforced));
    assert!(
        decision
            .checked
            .rules
            .iter()
            .all(|rule| !rule.detail.is_empty())
    );
}

type Change = fn(&mut OrderIntent, &mut RiskContext);

#[test]
fn each_rule_rejects_its_breach() {
    let cases: &[(&str, Change)] = &[
        ("quantity_positive", |intent, _| {
            intent.quantity = Decimal::ZERO
        }),
        ("kill_switch_released", |_, context| {
            context.kill_switch_engaged = true
        }),
        ("price_present", |intent, _| intent.price = None),
        ("stop_loss_present", |intent, _| intent.stop_loss = None),
        ("stop_loss_present", |intent, _| {
            intent.stop_loss = Some(dec("-1"))
        }),
        ("stop_loss_distance", |intent, _| {
            intent.stop_loss = Some(dec("101000"))
        }),
        ("stop_loss_distance", |intent, _| {
            intent.quantity = dec("0.01");
            intent.stop_loss = Some(dec("94900"));
        }),
        ("risk_per_trade", |intent, _| {
            intent.stop_loss = Some(dec("97000"))
        }),
        ("max_position_size", |intent, _| {
            intent.quantity = dec("0.06");
            intent.stop_loss = Some(dec("99000"));
        }),
        ("max_position_size", |_, context| {
            context.equity = Decimal::ZERO
        }),
        ("max_leverage", |_, context| context.leverage = Decimal::TWO),
        ("max_open_positions", |_, context| {
            context.open_positions = 3
        }),
        ("max_orders_per_minute", |_, context| {
            context.orders_last_minute = 10
        }),
        ("daily_loss_limit", |_, context| {
            context.day_start_equity = dec("10600")
        }),
        ("account_daily_loss_limit", |_, context| {
            context.account_daily_loss = Some(account_loss("300", false))
        }),
        ("account_daily_loss_limit", |_, context| {
            context.account_daily_loss = Some(account_loss("0", true))
        }),
        ("max_drawdown", |_, context| {
            context.peak_equity = dec("12500")
        }),
        ("price_band", |_, context| {
            context.last_price = Some(dec("94000"))
        }),
        ("price_band", |_, context| context.last_price = None),
    ];
    for (index, (rule, change)) in cases.iter().enumerate() {
        let (mut intent, mut context) = (entry(), context());
        change(&mut intent, &mut context);
        let decision = gate().check(intent, &context);

        let failed = failed_rules(&decision.checked);
        assert!(
            failed.contains(rule),
            "case {index}: {rule} not in failed {failed:?}"
        );
        assert_eq!(
            decision.checked.verdict,
            Verdict::Rejected,
            "case {index}: {rule}"
        );
        assert!(decision.approved.is_none(), "case {index}: {rule}");
    }
}

#[test]
fn limits_are_inclusive_where_documented() {
    let cases: &[(&str, Change)] = &[
        ("stop exactly 5% away", |intent, _| {
            intent.quantity = dec("0.02");
            intent.stop_loss = Some(dec("95000"));
        }),
        ("risk exactly 1%", |intent, _| intent.quantity = dec("0.05")),
        ("margin exactly 50%", |intent, _| {
            intent.quantity = dec("0.05");
            intent.stop_loss = Some(dec("99000"));
        }),
        ("price band exactly 5%", |_, context| {
            context.last_price = Some(dec("95238.1"))
        }),
    ];
    for (name, change) in cases {
        let (mut intent, mut context) = (entry(), context());
        change(&mut intent, &mut context);
        let decision = gate().check(intent, &context);
        let failed = failed_rules(&decision.checked);
        assert_eq!(
            decision.checked.verdict,
            Verdict::Approved,
            "{name}: failed {failed:?}"
        );
    }
}

#[test]
fn leverage_scales_position_limit() {
    let config = RiskConfig {
        max_leverage: dec("3"),
        risk_per_trade_pct: dec("5"),
        ..RiskConfig::default()
    };
    let gate = RiskGate::new(config).unwrap();
    let context = RiskContext {
        leverage: dec("3"),
        ..context()
    };

    let at_limit = OrderIntent {
        quantity: dec("0.15"),
        ..entry()
    };
    assert_eq!(
        gate.check(at_limit, &context).checked.verdict,
        Verdict::Approved
    );

    let above = OrderIntent {
        quantity: dec("0.16"),
        ..entry()
    };
    let decision = gate.check(above, &context);
    assert_eq!(failed_rules(&decision.checked), ["max_position_size"]);
}

#[test]
fn short_entry_needs_stop_above_price() {
    let short = OrderIntent {
        side: Side::Sell,
        stop_loss: Some(dec("102000")),
        ..entry()
    };
    let decision = gate().check(short, &context());
    assert_eq!(decision.checked.verdict, Verdict::Approved);

    let wrong = OrderIntent {
        side: Side::Sell,
        ..entry()
    };
    let decision = gate().check(wrong, &context());
    assert!(failed_rules(&decision.checked).contains(&"stop_loss_distance"));
}

/// An account that started the day with 20000 and a 1.5% daily loss limit, with `loss` lost
/// since.
fn account_loss(loss: &str, breached: bool) -> AccountDailyLoss {
    AccountDailyLoss {
        limit_pct: dec("1.5"),
        day_start_equity: dec("20000"),
        loss: dec(loss),
        breached,
    }
}

/// Returns a context with a long of 0.04 that breaches every limit on new risk.
fn breached_context() -> RiskContext {
    RiskContext {
        position: dec("0.04"),
        open_positions: 3,
        orders_last_minute: 10,
        day_start_equity: dec("20000"),
        peak_equity: dec("20000"),
        kill_switch_engaged: true,
        account_daily_loss: Some(account_loss("400", true)),
        ..context()
    }
}

fn close_long() -> OrderIntent {
    OrderIntent {
        side: Side::Sell,
        price: None,
        stop_loss: None,
        reduce_only: true,
        ..entry()
    }
}

#[test]
fn reducing_order_is_recorded_but_not_blocked() {
    for reduce_only in [true, false] {
        let intent = OrderIntent {
            reduce_only,
            ..close_long()
        };
        let decision = gate().check(intent, &breached_context());

        assert_eq!(
            decision.checked.verdict,
            Verdict::Approved,
            "reduce_only {reduce_only}"
        );
        assert!(decision.approved.is_some());
        let failed = failed_rules(&decision.checked);
        let new_risk_limits = [
            "kill_switch_released",
            "stop_loss_present",
            "account_daily_loss_limit",
            "max_drawdown",
        ];
        for rule in new_risk_limits {
            assert!(failed.contains(&rule), "{rule} missing from {failed:?}");
        }
        let failed_checks = decision.checked.rules.iter().filter(|rule| !rule.passed);
        assert!(failed_checks.clone().count() >= 3);
        assert!(failed_checks.into_iter().all(|rule| !rule.enforced));
    }
}

#[test]
fn reduce_only_beyond_position_is_rejected() {
    let intent = OrderIntent {
        quantity: dec("0.05"),
        ..close_long()
    };
    let decision = gate().check(intent, &breached_context());

    assert_eq!(decision.checked.verdict, Verdict::Rejected);
    let rule = &decision.checked.rules[1];
    assert_eq!(rule.rule, "reduce_only_within_position");
    assert!(!rule.passed);
    assert!(rule.enforced);
}

#[test]
fn reversal_counts_as_new_risk() {
    let context = RiskContext {
        position: dec("0.04"),
        ..context()
    };
    let reversal = OrderIntent {
        side: Side::Sell,
        quantity: dec("0.08"),
        stop_loss: Some(dec("102000")),
        ..entry()
    };
    let decision = gate().check(reversal, &context);
    assert_eq!(decision.checked.verdict, Verdict::Approved);
    assert!(decision.checked.rules.iter().all(|rule| rule.enforced));

    let kill_switch = RiskContext {
        kill_switch_engaged: true,
        ..context
    };
    let reversal = OrderIntent {
        quantity: dec("0.08"),
        ..close_long()
    };
    let decision = gate().check(
        OrderIntent {
            reduce_only: false,
            ..reversal
        },
        &kill_switch,
    );
    assert_eq!(decision.checked.verdict, Verdict::Rejected);
}

#[test]
fn overflowing_quantity_fails_instead_of_panicking() {
    let intent = OrderIntent {
        quantity: Decimal::MAX,
        ..entry()
    };
    let decision = gate().check(intent, &context());
    assert_eq!(decision.checked.verdict, Verdict::Rejected);
    assert!(failed_rules(&decision.checked).contains(&"risk_per_trade"));
}

#[test]
fn results_follow_rule_order() {
    let evaluation = gate().evaluate(entry(), &context());
    let rules = evaluation.results().map(|result| result.rule);
    assert_eq!(rules, RULES);
}

#[test]
fn extreme_prices_fail_instead_of_panicking() {
    let far_stop = OrderIntent {
        stop_loss: Some(Decimal::MIN),
        ..entry()
    };
    let checked = gate().check(far_stop, &context()).checked;
    let failed = failed_rules(&checked);
    assert!(failed.contains(&"stop_loss_distance"), "{failed:?}");
    assert!(failed.contains(&"risk_per_trade"), "{failed:?}");

    let far_last = RiskContext {
        last_price: Some(Decimal::MIN),
        ..context()
    };
    let checked = gate().check(entry(), &far_last).checked;
    assert_eq!(failed_rules(&checked), ["price_band"]);

    let far_below_zero = OrderIntent {
        quantity: Decimal::MIN,
        ..entry()
    };
    let context = RiskContext {
        position: dec("1"),
        ..context()
    };
    let checked = gate().check(far_below_zero, &context).checked;
    assert!(failed_rules(&checked).contains(&"quantity_positive"));
}

#[test]
fn verdict_round_trips_through_json() {
    let decision = gate().check(close_long(), &breached_context());
    let json = serde_json::to_string(&decision.checked).unwrap();
    let decoded: OrderRiskChecked = serde_json::from_str(&json).unwrap();
    assert_eq!(decoded, decision.checked);
    assert!(json.contains(r#""enforced":false"#), "{json}");
}

#[test]
fn details_show_compared_values() {
    let context = RiskContext {
        day_start_equity: dec("10500"),
        peak_equity: dec("12000"),
        last_price: Some(dec("99000")),
        ..context()
    };
    let checked = gate().check(entry(), &context).checked;
    let detail = |name: &str| {
        let rule = checked.rules.iter().find(|rule| rule.rule == name).unwrap();
        rule.detail.clone()
    };
    let expected = [
        ("quantity_positive", "quantity 0.04"),
        (
            "stop_loss_distance",
            "stop loss 98000 is 2% from price 100000; limit 5%",
        ),
        (
            "risk_per_trade",
            "loss at stop 80.00 against 100 (1% of equity 10000)",
        ),
        (
            "max_position_size",
            "margin 4000 at leverage 1 against 5000 (50% of equity 10000)",
        ),
        ("max_leverage", "leverage 1 set, 0.4 effective; limit 1"),
        (
            "daily_loss_limit",
            "loss today 4.7619% of day-start equity 10500; limit 5%",
        ),
        (
            "max_drawdown",
            "drawdown 16.6667% from peak equity 12000; limit 20%",
        ),
        (
            "price_band",
            "price 100000 is 1.0101% from last price 99000; limit 5%",
        ),
    ];
    for (name, text) in expected {
        assert_eq!(detail(name), text, "{name}");
    }
}

#[test]
fn evaluation_and_check_agree() {
    let evaluation = gate().evaluate(entry(), &context());
    let decision = gate().check(entry(), &context());
    assert!(evaluation.is_approved());
    assert_eq!(evaluation.to_event(), decision.checked);
    assert_eq!(evaluation.results().len(), RULE_COUNT);
    assert_eq!(evaluation.into_approved(), decision.approved);

    let rejected = gate().evaluate(
        OrderIntent {
            stop_loss: None,
            ..entry()
        },
        &context(),
    );
    assert_eq!(rejected.verdict(), Verdict::Rejected);
    assert!(rejected.into_approved().is_none());
}

fn instrument() -> InstrumentRules {
    InstrumentRules {
        tick_size: dec("0.1"),
        step_size: dec("0.001"),
        min_quantity: dec("0.001"),
        min_notional: Some(dec("100")),
        leverage_tiers: vec![
            LeverageTier {
                notional_cap: dec("3000"),
                max_leverage: dec("2"),
            },
            LeverageTier {
                notional_cap: dec("20000"),
                max_leverage: dec("1"),
            },
        ],
    }
}

fn rule<'a>(checked: &'a OrderRiskChecked, name: &str) -> &'a keyward_events::bot::RuleCheck {
    checked.rules.iter().find(|rule| rule.rule == name).unwrap()
}

#[test]
fn account_leverage_limit_is_reported() {
    let config = RiskConfig {
        max_leverage: dec("5"),
        ..RiskConfig::default()
    };
    let context = RiskContext {
        leverage: dec("4"),
        account_max_leverage: Some(dec("3")),
        ..context()
    };
    let decision = RiskGate::new(config).unwrap().check(entry(), &context);
    assert_eq!(decision.checked.verdict, Verdict::Rejected);
    let leverage = rule(&decision.checked, "max_leverage");
    assert!(!leverage.passed);
    assert_eq!(
        leverage.detail,
        "leverage 4 set, 0.4 effective; limit 3; account limit 3"
    );
}

#[test]
fn bracket_leverage_limit_is_reported() {
    let config = RiskConfig {
        max_leverage: dec("5"),
        ..RiskConfig::default()
    };
    let context = RiskContext {
        leverage: dec("2"),
        ..context()
    };
    let gate = RiskGate::new(config).unwrap().with_instrument(instrument());
    let decision = gate.check(entry(), &context);
    let leverage = rule(&decision.checked, "max_leverage");
    assert!(!leverage.passed, "{}", leverage.detail);
    assert_eq!(
        leverage.detail,
        "leverage 2 set, 0.4 effective; limit 1; exchange bracket 1 for notional 4000.00"
    );

    let beyond = OrderIntent {
        quantity: dec("0.3"),
        ..entry()
    };
    let decision = gate.check(beyond, &context);
    let leverage = rule(&decision.checked, "max_leverage");
    assert!(!leverage.passed);
    assert!(
        leverage.detail.contains("above every leverage bracket"),
        "{}",
        leverage.detail
    );
}

#[test]
fn instrument_rounds_and_checks_minimums() {
    let gate = gate().with_instrument(InstrumentRules {
        leverage_tiers: Vec::new(),
        ..instrument()
    });
    let intent = OrderIntent {
        quantity: dec("0.0409"),
        ..entry()
    };
    let decision = gate.check(intent, &context());
    assert_eq!(decision.checked.verdict, Verdict::Approved);
    let rounded = rule(&decision.checked, "instrument_rules");
    assert_eq!(rounded.detail, "quantity 0.0409 rounded to 0.04");
    let approved = decision.approved.unwrap();
    assert_eq!(approved.intent().quantity, dec("0.04"));

    let tiny = OrderIntent {
        quantity: dec("0.0009"),
        ..entry()
    };
    let decision = gate.check(tiny, &context());
    assert_eq!(decision.checked.verdict, Verdict::Rejected);
    let minimum = rule(&decision.checked, "instrument_rules");
    assert!(minimum.enforced);
    assert_eq!(
        minimum.detail,
        "quantity 0 after rounding is below the minimum 0.001"
    );

    let gate = gate.with_instrument(InstrumentRules {
        min_notional: Some(dec("5000")),
        leverage_tiers: Vec::new(),
        ..instrument()
    });
    let decision = gate.check(entry(), &context());
    assert_eq!(decision.checked.verdict, Verdict::Rejected);
    let minimum = rule(&decision.checked, "instrument_rules");
    assert_eq!(
        minimum.detail,
        "notional 4000.00 after rounding is below the minimum 5000"
    );
}

#[test]
fn reduce_only_is_exempt_from_min_notional() {
    let gate = gate().with_instrument(InstrumentRules {
        min_notional: Some(dec("5000")),
        ..instrument()
    });
    let close = OrderIntent {
        quantity: dec("0.001"),
        price: Some(dec("100000")),
        ..close_long()
    };
    let context = RiskContext {
        position: dec("0.001"),
        ..context()
    };
    let decision = gate.check(close, &context);
    let minimum = rule(&decision.checked, "instrument_rules");
    assert!(minimum.passed, "{}", minimum.detail);
    assert_eq!(decision.checked.verdict, Verdict::Approved);
}

#[test]
fn stop_price_rounds_to_safe_side() {
    let gate = gate().with_instrument(instrument());
    let stop = OrderIntent {
        kind: OrderKind::StopMarket,
        price: Some(dec("98000.04")),
        quantity: dec("0.04"),
        ..close_long()
    };
    let context = RiskContext {
        position: dec("0.04"),
        ..context()
    };
    let decision = gate.check(stop, &context);
    let approved = decision.approved.expect("a protective stop is approved");
    assert_eq!(approved.intent().price, Some(dec("98000.1")));
}

#[test]
fn account_daily_loss_limit_caps_new_risk() {
    let cases = [
        (
            "no limit set",
            None,
            true,
            "no account daily loss limit set",
        ),
        (
            "a profit",
            Some(account_loss("-250", false)),
            true,
            "account loss today -250 is -1.25% of day-start equity 20000; limit 1.5%",
        ),
        (
            "just below the limit",
            Some(account_loss("299.9", false)),
            true,
            "account loss today 299.9 is 1.4995% of day-start equity 20000; limit 1.5%",
        ),
        (
            "at the limit",
            Some(account_loss("300", false)),
            false,
            "account loss today 300 is 1.5% of day-start equity 20000; limit 1.5%",
        ),
        (
            "breached earlier, loss shrunk since",
            Some(account_loss("100", true)),
            false,
            "account loss today 100 is 0.5% of day-start equity 20000; limit 1.5%; breached \
             earlier today",
        ),
        (
            "no day-start equity",
            Some(AccountDailyLoss {
                day_start_equity: Decimal::ZERO,
                ..account_loss("1", false)
            }),
            false,
            "account day-start equity 0 is not positive",
        ),
        (
            "overflowing loss",
            Some(account_loss("79228162514264337593543950335", false)),
            false,
            "account loss today overflowed",
        ),
    ];
    for (name, account, passes, detail) in cases {
        let context = RiskContext {
            account_daily_loss: account,
            ..context()
        };
        let decision = gate().check(entry(), &context);
        let check = rule(&decision.checked, "account_daily_loss_limit");
        assert_eq!(check.passed, passes, "{name}");
        assert!(check.enforced, "{name}");
        assert_eq!(check.detail, detail, "{name}");
        let verdict = if passes {
            Verdict::Approved
        } else {
            Verdict::Rejected
        };
        assert_eq!(decision.checked.verdict, verdict, "{name}");
    }
}

#[test]
fn account_daily_loss_never_blocks_a_protective_stop() {
    let stop = OrderIntent {
        side: Side::Sell,
        kind: OrderKind::StopMarket,
        price: Some(dec("98000")),
        stop_loss: None,
        reduce_only: true,
        ..entry()
    };
    let context = RiskContext {
        position: dec("0.04"),
        account_daily_loss: Some(account_loss("900", true)),
        ..context()
    };
    let decision = gate().check(stop, &context);

    assert_eq!(decision.checked.verdict, Verdict::Approved);
    let check = rule(&decision.checked, "account_daily_loss_limit");
    assert!(!check.passed);
    assert!(!check.enforced);
}
