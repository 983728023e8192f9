//! The JSON shapes the emulator sends, field for field as Binance sends them. Decimals are
//! strings, as on Binance, except where Binance itself writes numbers (leverage brackets).

use serde::Serialize;

/// Response of `GET /sapi/v1/account/apiRestrictions`, in Binance's field order.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiRestrictionsResponse {
    pub ip_restrict: bool,
    pub create_time: i64,
    pub enable_reading: bool,
    pub enable_withdrawals: bool,
    pub enable_internal_transfer: bool,
    pub enable_margin: bool,
    pub enable_futures: bool,
    pub permits_universal_transfer: bool,
    pub enable_vanilla_options: bool,
    pub enable_fix_api_trade: bool,
    pub enable_fix_read_only: bool,
    pub enable_spot_and_margin_trading: bool,
    pub enable_portfolio_margin_trading: bool,
    /// Milliseconds since the Unix epoch; left out when the key has no expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trading_authority_expiration_time: Option<i64>,
}

/// Response of `GET /fapi/v1/time`.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServerTimeResponse {
    pub server_time: i64,
}

/// One asset of the `GET /fapi/v3/balance` response. Amounts are decimal strings.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BalanceEntry {
    pub account_alias: String,
    pub asset: String,
    pub balance: String,
    pub cross_wallet_balance: String,
    pub cross_un_pnl: String,
    pub available_balance: String,
    pub max_withdraw_amount: String,
    pub margin_available: bool,
    pub update_time: i64,
}

/// Error body of every Binance endpoint.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ErrorResponse {
    pub code: i64,
    pub msg: String,
}

/// Response of `GET /fapi/v1/exchangeInfo`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeInfoResponse {
    pub timezone: &'static str,
    pub server_time: i64,
    pub rate_limits: Vec<RateLimitEntry>,
    pub exchange_filters: Vec<String>,
    pub symbols: Vec<SymbolEntry>,
}

/// One entry of `rateLimits`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitEntry {
    pub rate_limit_type: &'static str,
    pub interval: &'static str,
    pub interval_num: u32,
    pub limit: u32,
}

/// One symbol of `exchangeInfo`, in Binance's field order.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SymbolEntry {
    pub symbol: String,
    pub pair: String,
    pub contract_type: &'static str,
    pub delivery_date: i64,
    pub onboard_date: i64,
    pub status: &'static str,
    pub base_asset: String,
    pub quote_asset: String,
    pub margin_asset: String,
    pub price_precision: u32,
    pub quantity_precision: u32,
    pub base_asset_precision: u32,
    pub quote_precision: u32,
    pub underlying_type: &'static str,
    pub filters: Vec<FilterEntry>,
    pub order_types: Vec<&'static str>,
    pub time_in_force: Vec<&'static str>,
}

/// One filter of a symbol, tagged by `filterType`. Decimals are strings, as Binance sends them.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "filterType")]
pub enum FilterEntry {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    Price {
        min_price: String,
        max_price: String,
        tick_size: String,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        min_qty: String,
        max_qty: String,
        step_size: String,
    },
    #[serde(rename = "MARKET_LOT_SIZE", rename_all = "camelCase")]
    MarketLotSize {
        min_qty: String,
        max_qty: String,
        step_size: String,
    },
    #[serde(rename = "MAX_NUM_ORDERS")]
    MaxNumOrders { limit: u32 },
    #[serde(rename = "MIN_NOTIONAL")]
    MinNotional { notional: String },
}

/// One symbol of `GET /fapi/v1/leverageBracket`.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LeverageBracketResponse {
    pub symbol: String,
    pub brackets: Vec<BracketEntry>,
}

/// One tier; Binance writes these values as JSON numbers.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BracketEntry {
    pub bracket: u32,
    pub initial_leverage: u32,
    pub notional_cap: serde_json::Number,
    pub notional_floor: serde_json::Number,
    pub maint_margin_ratio: serde_json::Number,
    pub cum: serde_json::Number,
}

/// One position of `GET /fapi/v3/positionRisk`, in Binance's field order.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PositionRiskEntry {
    pub symbol: String,
    pub position_side: &'static str,
    pub position_amt: String,
    pub entry_price: String,
    pub break_even_price: String,
    pub mark_price: String,
    pub un_realized_profit: String,
    pub liquidation_price: String,
    pub isolated_margin: String,
    pub notional: String,
    pub margin_asset: String,
    pub isolated_wallet: String,
    pub initial_margin: String,
    pub maint_margin: String,
    pub position_initial_margin: String,
    pub open_order_initial_margin: String,
    pub adl: u32,
    pub bid_notional: String,
    pub ask_notional: String,
    pub update_time: i64,
}

/// Response of `POST /fapi/v1/leverage`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LeverageResponse {
    pub leverage: u32,
    pub max_notional_value: String,
    pub symbol: String,
}

/// Response of `GET /fapi/v1/positionSide/dual`.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DualSideResponse {
    pub dual_side_position: bool,
}

/// An order as `POST`, `GET` and `DELETE /fapi/v1/order` return it, in Binance's field order.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrderResponse {
    pub client_order_id: String,
    pub cum_qty: String,
    pub cum_quote: String,
    pub executed_qty: String,
    pub order_id: u64,
    pub avg_price: String,
    pub orig_qty: String,
    pub price: String,
    pub reduce_only: bool,
    pub side: &'static str,
    pub position_side: &'static str,
    pub status: &'static str,
    pub stop_price: String,
    pub close_position: bool,
    pub symbol: String,
    pub time_in_force: &'static str,
    #[serde(rename = "type")]
    pub order_type: &'static str,
    pub orig_type: &'static str,
    pub update_time: i64,
    pub working_type: &'static str,
    pub price_protect: bool,
    pub price_match: &'static str,
    pub self_trade_prevention_mode: &'static str,
    pub good_till_date: i64,
}

/// Response of `POST` and `PUT /fapi/v1/listenKey`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ListenKeyResponse {
    pub listen_key: String,
}

/// The answer to a websocket `SUBSCRIBE`: `{"result": null, "id": 1}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SubscribeResponse {
    pub result: Option<Vec<String>>,
    pub id: u64,
}

/// `<symbol>@aggTrade`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AggTradeEvent {
    pub e: &'static str,
    #[serde(rename = "E")]
    pub event_time: i64,
    pub s: String,
    pub a: u64,
    pub p: String,
    pub q: String,
    pub nq: String,
    pub f: u64,
    pub l: u64,
    #[serde(rename = "T")]
    pub trade_time: i64,
    pub m: bool,
}

/// `<symbol>@kline_<interval>`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KlineEvent {
    pub e: &'static str,
    #[serde(rename = "E")]
    pub event_time: i64,
    pub s: String,
    pub k: KlineData,
}

/// The candle of a kline event; fields the emulator does not track are zero.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KlineData {
    pub t: i64,
    #[serde(rename = "T")]
    pub close_time: i64,
    pub s: String,
    pub i: String,
    pub f: i64,
    #[serde(rename = "L")]
    pub last_trade: i64,
    pub o: String,
    pub c: String,
    pub h: String,
    pub l: String,
    pub v: String,
    pub n: u64,
    pub x: bool,
    pub q: String,
    #[serde(rename = "V")]
    pub taker_volume: String,
    #[serde(rename = "Q")]
    pub taker_quote_volume: String,
    #[serde(rename = "B")]
    pub ignore: String,
}

/// `<symbol>@bookTicker`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct BookTickerEvent {
    pub e: &'static str,
    pub u: u64,
    pub s: String,
    pub b: String,
    #[serde(rename = "B")]
    pub bid_quantity: String,
    pub a: String,
    #[serde(rename = "A")]
    pub ask_quantity: String,
    #[serde(rename = "T")]
    pub transaction_time: i64,
    #[serde(rename = "E")]
    pub event_time: i64,
}

/// `ORDER_TRADE_UPDATE` of the user data stream.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OrderTradeUpdateEvent {
    pub e: &'static str,
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "T")]
    pub transaction_time: i64,
    pub o: OrderUpdateData,
}

/// The order of an `ORDER_TRADE_UPDATE`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OrderUpdateData {
    pub s: String,
    pub c: String,
    #[serde(rename = "S")]
    pub side: &'static str,
    pub o: &'static str,
    pub f: &'static str,
    pub q: String,
    pub p: String,
    pub ap: String,
    pub sp: String,
    pub x: &'static str,
    #[serde(rename = "X")]
    pub status: &'static str,
    pub i: u64,
    pub l: String,
    pub z: String,
    #[serde(rename = "L")]
    pub last_price: String,
    #[serde(rename = "N")]
    pub fee_asset: String,
    pub n: String,
    #[serde(rename = "T")]
    pub trade_time: i64,
    pub t: u64,
    pub b: String,
    pub a: String,
    pub m: bool,
    #[serde(rename = "R")]
    pub reduce_only: bool,
    pub wt: &'static str,
    pub ot: &'static str,
    pub ps: &'static str,
    pub cp: bool,
    pub rp: String,
}

/// `ACCOUNT_UPDATE` of the user data stream.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AccountUpdateEvent {
    pub e: &'static str,
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "T")]
    pub transaction_time: i64,
    pub a: AccountUpdateData,
}

/// The data of an `ACCOUNT_UPDATE`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AccountUpdateData {
    pub m: &'static str,
    #[serde(rename = "B")]
    pub balances: Vec<BalanceUpdate>,
    #[serde(rename = "P")]
    pub positions: Vec<PositionUpdate>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct BalanceUpdate {
    pub a: String,
    pub wb: String,
    pub cw: String,
    pub bc: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PositionUpdate {
    pub s: String,
    pub pa: String,
    pub ep: String,
    pub bep: String,
    pub cr: String,
    pub up: String,
    pub mt: &'static str,
    pub iw: String,
    pub ps: &'static str,
}

/// `listenKeyExpired` of the user data stream.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ListenKeyExpiredEvent {
    pub e: &'static str,
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "listenKey")]
    pub listen_key: String,
}
