//! The JSON shapes of OKX's v5 API, as it sends them. Numbers are strings.
//!
//! Every REST response is an [`OkxEnvelope`]; `code` `"0"` is success. Trade endpoints return
//! `"1"` (all failed) or `"2"` (some failed) with each order's reason in `data[i].sCode`.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::wire_decimal::optional_decimal;

/// The envelope of every v5 REST response: `{code, msg, data}`.
#[derive(Clone, Debug, Deserialize)]
pub struct OkxEnvelope<T> {
    pub code: String,
    #[serde(default)]
    pub msg: String,
    /// Absent in some authentication failures.
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

/// The per-order result of a trade endpoint, also carried by its failures.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OkxOrderResult {
    #[serde(default)]
    pub ord_id: String,
    #[serde(default)]
    pub cl_ord_id: String,
    pub s_code: String,
    #[serde(default)]
    pub s_msg: String,
    #[serde(default)]
    pub ts: Option<String>,
}

/// `GET /api/v5/public/time`.
#[derive(Clone, Debug, Deserialize)]
pub struct OkxServerTime {
    pub ts: String,
}

/// `GET /api/v5/account/config`: the account's settings and the calling key's permissions.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OkxAccountConfig {
    /// Comma-separated: `read_only`, `trade`, `withdraw`.
    pub perm: String,
    /// Comma-separated bound addresses; empty when none.
    pub ip: String,
    /// `net_mode` (one-way) or `long_short_mode` (hedge).
    pub pos_mode: String,
    /// `1` spot, `2` futures, `3` multi-currency margin, `4` portfolio margin.
    #[serde(default)]
    pub acct_lv: Option<String>,
}

/// One instrument of `GET /api/v5/public/instruments?instType=SWAP`. Sizes count contracts.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OkxInstrument {
    pub inst_id: String,
    pub inst_type: String,
    #[serde(default)]
    pub ct_type: String,
    pub settle_ccy: String,
    pub ct_val: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub ct_mult: Option<Decimal>,
    pub tick_sz: Decimal,
    pub lot_sz: Decimal,
    pub min_sz: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub max_lmt_sz: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub max_mkt_sz: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub lever: Option<Decimal>,
    /// `live`, `suspend`, `preopen` or `test`.
    pub state: String,
}

/// One account of `GET /api/v5/account/balance`.
#[derive(Clone, Debug, Deserialize)]
pub struct OkxBalance {
    pub details: Vec<OkxBalanceDetail>,
}

/// One currency of the trading account.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OkxBalanceDetail {
    pub ccy: String,
    pub cash_bal: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub avail_eq: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub avail_bal: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub upl: Option<Decimal>,
    #[serde(default)]
    pub u_time: Option<String>,
}

/// One position of `GET /api/v5/account/positions`; `pos` counts contracts, signed in net
/// mode.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OkxPosition {
    pub inst_id: String,
    pub pos_side: String,
    pub pos: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub avg_px: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub mark_px: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub upl: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub lever: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub liq_px: Option<Decimal>,
    #[serde(default)]
    pub u_time: Option<String>,
}

/// One entry of `POST /api/v5/account/set-leverage`.
#[derive(Clone, Debug, Deserialize)]
pub struct OkxLeverage {
    pub lever: Decimal,
}

/// One order of `GET /api/v5/trade/order` and `orders-pending`; sizes count contracts.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OkxOrder {
    pub inst_id: String,
    pub ord_id: String,
    pub cl_ord_id: String,
    pub side: String,
    pub ord_type: String,
    /// `live`, `partially_filled`, `filled`, `canceled` or `mmp_canceled`.
    pub state: String,
    pub sz: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub acc_fill_sz: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub px: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub avg_px: Option<Decimal>,
    /// `"true"` or `"false"`.
    #[serde(default)]
    pub reduce_only: String,
    #[serde(default)]
    pub u_time: Option<String>,
    /// Fields of the latest fill, on `orders` channel pushes and order queries.
    #[serde(default)]
    pub trade_id: String,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub fill_px: Option<Decimal>,
    /// Contracts filled by the latest fill.
    #[serde(default, deserialize_with = "optional_decimal")]
    pub fill_sz: Option<Decimal>,
    #[serde(default)]
    pub fill_time: Option<String>,
    /// Negative when charged, positive for a rebate.
    #[serde(default, deserialize_with = "optional_decimal")]
    pub fee: Option<Decimal>,
    #[serde(default)]
    pub fee_ccy: Option<String>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub fill_pnl: Option<Decimal>,
    /// `M` maker, `T` taker.
    #[serde(default)]
    pub exec_type: Option<String>,
}

/// One tier of `GET /api/v5/public/position-tiers?instType=SWAP`; sizes count contracts.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OkxPositionTier {
    pub min_sz: Decimal,
    pub max_sz: Decimal,
    pub mmr: Decimal,
    pub max_lever: Decimal,
}

/// `GET /api/v5/market/ticker`: the fields keyward reads.
#[derive(Clone, Debug, Deserialize)]
pub struct OkxTicker {
    pub last: Decimal,
}

/// The result of `POST /api/v5/trade/order-algo` and `cancel-algos`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OkxAlgoResult {
    pub algo_id: String,
    #[serde(default)]
    pub algo_cl_ord_id: String,
    pub s_code: String,
    #[serde(default)]
    pub s_msg: String,
}

/// One algo order of `GET /api/v5/trade/order-algo` and `orders-algo-pending`; sizes count
/// contracts.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OkxAlgoOrder {
    pub inst_id: String,
    pub algo_id: String,
    #[serde(default)]
    pub algo_cl_ord_id: String,
    pub side: String,
    /// `live`, `pause`, `partially_effective`, `effective`, `canceled` or `order_failed`.
    pub state: String,
    pub sz: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub actual_sz: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub actual_px: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub trigger_px: Option<Decimal>,
    #[serde(default)]
    pub reduce_only: String,
    #[serde(default)]
    pub u_time: Option<String>,
}
