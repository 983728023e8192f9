//! Binance routes: the router, public market endpoints and key permissions.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::auth::{AuthenticatedKey, Rejection};
use super::wire::{
    ApiRestrictionsResponse, ExchangeInfoResponse, FilterEntry, RateLimitEntry, ServerTimeResponse,
    SymbolEntry,
};
use super::{account, orders, streams};
use crate::engine::InstrumentSpec;
use crate::keys::EmulatorKey;
use crate::state::EmulatorState;

/// Builds the Binance routes, on one host for both the futures and the spot API.
pub(crate) fn routes() -> Router<EmulatorState> {
    Router::new()
        .route("/fapi/v1/time", get(server_time))
        .route("/fapi/v1/ping", get(ping))
        .route("/fapi/v1/exchangeInfo", get(exchange_info))
        .route("/sapi/v1/account/apiRestrictions", get(api_restrictions))
        .route("/fapi/v3/balance", get(account::balance))
        .route("/fapi/v3/positionRisk", get(account::position_risk))
        .route("/fapi/v1/accountConfig", get(account::account_config))
        .route("/fapi/v1/leverage", post(account::leverage))
        .route("/fapi/v1/leverageBracket", get(account::leverage_bracket))
        .route(
            "/fapi/v1/positionSide/dual",
            get(account::dual_side).post(account::set_dual_side),
        )
        .route(
            "/fapi/v1/order",
            post(orders::new_order)
                .get(orders::query_order)
                .delete(orders::cancel_order),
        )
        .route("/fapi/v1/openOrders", get(orders::open_orders))
        .route(
            "/fapi/v1/listenKey",
            post(streams::new_listen_key)
                .put(streams::keep_listen_key)
                .delete(streams::close_listen_key),
        )
        .route("/market/ws", get(streams::market_socket))
        .route("/public/ws", get(streams::market_socket))
        .route("/market/stream", get(streams::market_socket))
        .route("/public/stream", get(streams::market_socket))
        .route("/private/ws/{listen_key}", get(streams::user_socket))
}

async fn server_time(State(state): State<EmulatorState>) -> Json<ServerTimeResponse> {
    Json(ServerTimeResponse {
        server_time: state.now_ms(),
    })
}

async fn ping() -> Json<Value> {
    Json(json!({}))
}

async fn api_restrictions(
    AuthenticatedKey(stored): AuthenticatedKey,
) -> Json<ApiRestrictionsResponse> {
    Json(restrictions_answer(&stored.key, stored.created_at_ms))
}

/// Builds Binance's key-permission response from a key's flags. Margin, options and FIX trading
/// are not emulated and always read `false`.
pub fn restrictions_answer(key: &EmulatorKey, created_at_ms: i64) -> ApiRestrictionsResponse {
    ApiRestrictionsResponse {
        ip_restrict: !key.ip_allowlist.is_empty(),
        create_time: created_at_ms,
        enable_reading: key.read,
        enable_withdrawals: key.withdraw,
        enable_internal_transfer: key.transfer,
        enable_margin: false,
        enable_futures: key.futures,
        permits_universal_transfer: key.transfer,
        enable_vanilla_options: false,
        enable_fix_api_trade: false,
        enable_fix_read_only: false,
        enable_spot_and_margin_trading: key.spot,
        enable_portfolio_margin_trading: false,
        trading_authority_expiration_time: key.expires_at.map(|at| at.timestamp_millis()),
    }
}

async fn exchange_info(State(state): State<EmulatorState>) -> Json<ExchangeInfoResponse> {
    let limit = state.faults().config().weight_limit_per_minute;
    let rate_limit = |rate_limit_type, interval, interval_num, limit| RateLimitEntry {
        rate_limit_type,
        interval,
        interval_num,
        limit,
    };
    Json(ExchangeInfoResponse {
        timezone: "UTC",
        server_time: state.now_ms(),
        rate_limits: vec![
            rate_limit("REQUEST_WEIGHT", "MINUTE", 1, limit),
            rate_limit("ORDERS", "MINUTE", 1, 1200),
            rate_limit("ORDERS", "SECOND", 10, 300),
        ],
        exchange_filters: Vec::new(),
        symbols: state
            .engine()
            .instruments()
            .iter()
            .map(symbol_entry)
            .collect(),
    })
}

fn symbol_entry(spec: &InstrumentSpec) -> SymbolEntry {
    let text = |value: Option<Decimal>| value.map_or_else(|| "0".to_owned(), |v| v.to_string());
    let filters = vec![
        FilterEntry::Price {
            min_price: text(spec.min_price),
            max_price: text(spec.max_price),
            tick_size: spec.tick_size.to_string(),
        },
        FilterEntry::LotSize {
            min_qty: spec.min_quantity.to_string(),
            max_qty: text(spec.max_quantity),
            step_size: spec.step_size.to_string(),
        },
        FilterEntry::MarketLotSize {
            min_qty: spec.min_quantity.to_string(),
            max_qty: text(spec.max_market_quantity.or(spec.max_quantity)),
            step_size: spec.step_size.to_string(),
        },
        FilterEntry::MaxNumOrders { limit: 200 },
        FilterEntry::MinNotional {
            notional: text(spec.min_notional),
        },
    ];
    SymbolEntry {
        symbol: spec.symbol.clone(),
        pair: spec.symbol.clone(),
        contract_type: "PERPETUAL",
        delivery_date: 4_133_404_800_000,
        onboard_date: 1_569_398_400_000,
        status: "TRADING",
        base_asset: spec.base_asset.clone(),
        quote_asset: spec.quote_asset.clone(),
        margin_asset: spec.quote_asset.clone(),
        price_precision: spec.tick_size.normalize().scale(),
        quantity_precision: spec.step_size.normalize().scale(),
        base_asset_precision: 8,
        quote_precision: 8,
        underlying_type: "COIN",
        filters,
        order_types: vec!["LIMIT", "MARKET", "STOP_MARKET"],
        time_in_force: vec!["GTC", "IOC", "FOK", "GTX"],
    }
}

/// Checks that a key may use the futures account: reading and futures trading enabled, as
/// Binance requires; otherwise its one response for key problems, -2015.
pub(crate) fn require_futures(key: &EmulatorKey) -> Result<(), Rejection> {
    if key.read && key.futures {
        Ok(())
    } else {
        Err(Rejection::invalid_key())
    }
}
