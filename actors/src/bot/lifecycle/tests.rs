use chrono::TimeZone;
use keyward_events::Exchange;
use keyward_events::bot::{BotCreated, BotEvent, PaperRunCompleted, StrategySpec};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn configured_bot() -> BotState {
    let created = BotEvent::BotCreated(BotCreated {
        bot_id: Uuid::from_u128(1),
        account_id: Some(Uuid::from_u128(2)),
        label: "test".to_owned(),
        key_id: Some(Uuid::from_u128(3)),
        exchange: Exchange::Binance,
        symbol: "BTCUSDT".to_owned(),
        created_at: now(),
    });
    let configured = BotEvent::BotConfigured(BotConfigured {
        strategy: StrategySpec {
            name: "sma".to_owned(),
            params: serde_json::Map::new(),
        },
        risk: serde_json::json!({}),
        config_hash: "abc".to_owned(),
        configured_at: now(),
    });
    let bot = BotState::evolve(None, &created, 0);
    BotState::evolve(bot, &configured, 1).unwrap()
}

fn with_paper_run(bot: BotState, config_hash: &str, hours: i64) -> BotState {
    let run = BotEvent::PaperRunCompleted(PaperRunCompleted {
        config_hash: config_hash.to_owned(),
        started_at: now() - Duration::hours(hours),
        ended_at: now(),
        bars: 10,
        orders: 0,
        final_equity: Decimal::ONE_HUNDRED,
    });
    let version = bot.version + 1;
    BotState::evolve(Some(bot), &run, version).unwrap()
}

fn ready_facts() -> LiveFacts {
    LiveFacts {
        two_factor_on: true,
        key: Some(KeyFacts {
            verified: true,
            rejected: false,
            probe_failed: false,
            verified_against: Some(("fapi.example".to_owned(), now() - Duration::hours(2))),
        }),
        current_host: Some("fapi.example".to_owned()),
    }
}

#[test]
fn live_ready_bot_has_nothing_unmet() {
    let bot = with_paper_run(configured_bot(), "abc", 24);
    let unmet = unmet_for_live(&bot, &ready_facts(), &LivePolicy::default(), now());
    assert_eq!(unmet, Vec::<Unmet>::new());
}

#[test]
fn every_unmet_condition_is_listed() {
    let mut bot = with_paper_run(configured_bot(), "other-config", 48);
    bot.risk_valid = false;
    let facts = LiveFacts {
        two_factor_on: false,
        ..ready_facts()
    };
    let unmet = unmet_for_live(&bot, &facts, &LivePolicy::default(), now());
    assert_eq!(
        unmet,
        vec![
            Unmet::TwoFactorDisabled,
            Unmet::RiskConfigInvalid,
            Unmet::NoTrackRecord
        ]
    );
}

#[test]
fn short_paper_run_is_no_track_record() {
    let bot = with_paper_run(configured_bot(), "abc", 23);
    let unmet = unmet_for_live(&bot, &ready_facts(), &LivePolicy::default(), now());
    assert_eq!(unmet, vec![Unmet::NoTrackRecord]);
}

#[test]
fn key_verification_must_match_host_and_age() {
    let bot = with_paper_run(configured_bot(), "abc", 24);
    let policy = LivePolicy::default();
    let cases = [
        (
            "other host",
            "testnet.example",
            1,
            true,
            Unmet::KeyVerifiedForOtherHost,
        ),
        (
            "stale",
            "fapi.example",
            25,
            true,
            Unmet::KeyVerificationStale,
        ),
        (
            "not verified",
            "fapi.example",
            1,
            false,
            Unmet::KeyNotVerified,
        ),
    ];
    for (name, host, age_hours, verified, expected) in cases {
        let facts = LiveFacts {
            key: Some(KeyFacts {
                verified,
                rejected: false,
                probe_failed: false,
                verified_against: Some((host.to_owned(), now() - Duration::hours(age_hours))),
            }),
            ..ready_facts()
        };
        let unmet = unmet_for_live(&bot, &facts, &policy, now());
        assert_eq!(unmet, vec![expected], "{name}");
    }
    // The probe at activation decides before the recorded verification.
    let outcomes = [
        ("rejected", true, false, Unmet::KeyRejected),
        ("probe failed", false, true, Unmet::KeyProbeFailed),
    ];
    for (name, rejected, probe_failed, expected) in outcomes {
        let facts = LiveFacts {
            key: Some(KeyFacts {
                verified: !rejected,
                rejected,
                probe_failed,
                verified_against: Some(("fapi.example".to_owned(), now())),
            }),
            ..ready_facts()
        };
        let unmet = unmet_for_live(&bot, &facts, &policy, now());
        assert_eq!(unmet, vec![expected], "{name}");
    }
    let facts = LiveFacts {
        key: None,
        ..ready_facts()
    };
    let unmet = unmet_for_live(&bot, &facts, &policy, now());
    assert_eq!(unmet, vec![Unmet::KeyMissing]);
}

#[test]
fn lifecycle_follows_status() {
    let bot = configured_bot();
    assert!(pause(&bot, PauseReason::Requested, now()).is_err());
    assert!(activate(&bot, BotMode::Backtest, None, now()).is_err());

    let activated = activate(&bot, BotMode::Paper, Some("host".to_owned()), now()).unwrap();
    assert_eq!(activated.exchange_host, None);
    let event = keyward_events::bot::BotEvent::BotActivated(activated);
    let active = BotState::evolve(Some(bot), &event, 2).unwrap();
    assert!(active.is_active());
    assert!(activate(&active, BotMode::Paper, None, now()).is_err());
    assert!(check_configurable(&active).is_err());

    let paused = pause(&active, PauseReason::Requested, now()).unwrap();
    let event = keyward_events::bot::BotEvent::BotPaused(paused);
    let paused = BotState::evolve(Some(active), &event, 3).unwrap();
    assert_eq!(check_configurable(&paused), Ok(()));

    let stopped = stop(&paused, "requested", now()).unwrap();
    let event = keyward_events::bot::BotEvent::BotStopped(stopped);
    let stopped = BotState::evolve(Some(paused), &event, 4).unwrap();
    assert_eq!(stopped.status, BotStatus::Stopped);
    assert!(stop(&stopped, "requested", now()).is_err());
    assert!(activate(&stopped, BotMode::Paper, None, now()).is_err());
}
