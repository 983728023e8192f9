//! The JSON shapes of Bybit's v5 API, as it sends them. Numbers are mostly strings.
//!
//! Every REST response is a [`BybitEnvelope`]; `retCode` 0 is success.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::wire_decimal::optional_decimal;

/// The envelope of every v5 REST response: `{retCode, retMsg, result, retExtInfo, time}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitEnvelope<T> {
    pub ret_code: i64,
    pub ret_msg: String,
    /// Absent or `{}` in errors.
    pub result: Option<T>,
    #[serde(default)]
    pub time: Option<i64>,
}

/// The envelope of an error, whatever its `result`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitErrorBody {
    pub ret_code: i64,
    pub ret_msg: String,
}

/// `GET /v5/market/time`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitServerTime {
    pub time_second: String,
    pub time_nano: String,
}

/// `GET /v5/user/query-api`: the calling key's information. Fields keyward does not map stay
/// in the raw flags.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitKeyInfo {
    /// `1` read-only, `0` read and write.
    pub read_only: i64,
    /// Permission groups, e.g. `ContractTrade: ["Order", "Position"]`.
    pub permissions: BTreeMap<String, Vec<String>>,
    /// Bound addresses; `["*"]` when the key is bound to none.
    pub ips: Vec<String>,
    /// `1` on a unified trading account.
    #[serde(default)]
    pub uta: i64,
    /// Expiry of a key without bound addresses; `1970-01-01T00:00:00Z` when none.
    #[serde(default)]
    pub expired_at: Option<String>,
}

/// `GET /v5/market/instruments-info?category=linear`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitInstrumentPage {
    pub list: Vec<BybitInstrument>,
    #[serde(default)]
    pub next_page_cursor: Option<String>,
}

/// One instrument of `instruments-info`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitInstrument {
    pub symbol: String,
    pub contract_type: String,
    pub status: String,
    pub base_coin: String,
    pub quote_coin: String,
    #[serde(default)]
    pub settle_coin: Option<String>,
    pub leverage_filter: BybitLeverageFilter,
    pub price_filter: BybitPriceFilter,
    pub lot_size_filter: BybitLotSizeFilter,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitLeverageFilter {
    #[serde(default, deserialize_with = "optional_decimal")]
    pub max_leverage: Option<Decimal>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitPriceFilter {
    #[serde(default, deserialize_with = "optional_decimal")]
    pub min_price: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub max_price: Option<Decimal>,
    pub tick_size: Decimal,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitLotSizeFilter {
    pub qty_step: Decimal,
    pub min_order_qty: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub max_order_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub max_mkt_order_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub min_notional_value: Option<Decimal>,
}

/// `GET /v5/market/risk-limit?category=linear`.
#[derive(Clone, Debug, Deserialize)]
pub struct BybitRiskLimitPage {
    pub list: Vec<BybitRiskLimit>,
}

/// One risk-limit tier: positions up to `riskLimitValue` may use `maxLeverage`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitRiskLimit {
    pub symbol: String,
    pub risk_limit_value: Decimal,
    pub maintenance_margin: Decimal,
    pub max_leverage: Decimal,
}

/// `GET /v5/account/wallet-balance?accountType=UNIFIED`.
#[derive(Clone, Debug, Deserialize)]
pub struct BybitWalletPage {
    pub list: Vec<BybitWallet>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BybitWallet {
    pub coin: Vec<BybitCoin>,
}

/// One coin of a unified account.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitCoin {
    pub coin: String,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub equity: Option<Decimal>,
    pub wallet_balance: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub unrealised_pnl: Option<Decimal>,
    #[serde(
        default,
        rename = "totalPositionIM",
        deserialize_with = "optional_decimal"
    )]
    pub total_position_im: Option<Decimal>,
    #[serde(
        default,
        rename = "totalOrderIM",
        deserialize_with = "optional_decimal"
    )]
    pub total_order_im: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub locked: Option<Decimal>,
}

/// `GET /v5/position/list`.
#[derive(Clone, Debug, Deserialize)]
pub struct BybitPositionPage {
    pub list: Vec<BybitPosition>,
}

/// One position: `positionIdx` 0 in one-way mode, 1 (buy side) or 2 (sell side) in hedge mode.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitPosition {
    pub position_idx: i64,
    pub symbol: String,
    /// `Buy`, `Sell`, or empty when flat.
    pub side: String,
    pub size: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub avg_price: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub leverage: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub mark_price: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub liq_price: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub unrealised_pnl: Option<Decimal>,
    #[serde(default)]
    pub updated_time: Option<String>,
}

/// The result of `POST /v5/order/create` and `/v5/order/cancel`: the ids only.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitOrderIds {
    pub order_id: String,
    pub order_link_id: String,
}

/// `GET /v5/order/realtime`.
#[derive(Clone, Debug, Deserialize)]
pub struct BybitOrderPage {
    pub list: Vec<BybitOrder>,
}

/// One order of `order/realtime`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitOrder {
    pub order_id: String,
    pub order_link_id: String,
    pub symbol: String,
    pub side: String,
    pub order_type: String,
    #[serde(default)]
    pub stop_order_type: Option<String>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub price: Option<Decimal>,
    pub qty: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub cum_exec_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub avg_price: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub trigger_price: Option<Decimal>,
    pub order_status: String,
    #[serde(default)]
    pub reduce_only: bool,
    #[serde(default)]
    pub updated_time: Option<String>,
}

/// One fill of the private `execution` topic.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BybitExecution {
    pub symbol: String,
    pub order_id: String,
    pub order_link_id: String,
    pub side: String,
    pub exec_id: String,
    pub exec_price: Decimal,
    pub exec_qty: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub exec_fee: Option<Decimal>,
    #[serde(default)]
    pub fee_currency: Option<String>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub exec_pnl: Option<Decimal>,
    #[serde(default)]
    pub is_maker: bool,
    #[serde(default)]
    pub exec_type: Option<String>,
    pub exec_time: String,
}
