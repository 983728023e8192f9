//! Binance's JSON shapes, as sent. Field names follow Binance; nothing here is a domain type.
//!
//! Decimal fields that Binance sends as strings are read as [`Decimal`]; the few it sends as
//! JSON numbers (leverage brackets) go through [`crate::wire_decimal::number_or_string`].

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::wire_decimal::{number_or_string, optional_decimal};

/// Response of `GET /sapi/v1/account/apiRestrictions` (spot host): what the signing key may do.
///
/// The flags keyward maps are required, so a response that lacks one (say `enableWithdrawals`)
/// fails to decode instead of reading as `false`. Flags keyward does not map are kept raw by
/// the parser.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BinanceApiRestrictions {
    pub ip_restrict: bool,
    #[serde(default)]
    pub create_time: Option<i64>,
    pub enable_reading: bool,
    pub enable_withdrawals: bool,
    pub enable_internal_transfer: bool,
    pub enable_futures: bool,
    pub permits_universal_transfer: bool,
    pub enable_spot_and_margin_trading: bool,
    /// Missing from some responses; a portfolio-margin account shows this instead of
    /// `enableFutures`.
    #[serde(default)]
    pub enable_portfolio_margin_trading: bool,
    /// Expiry of the spot and margin trading permission, in ms; present only in some responses.
    #[serde(default)]
    pub trading_authority_expiration_time: Option<i64>,
}

/// Response of `GET /fapi/v1/time` (futures host).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BinanceServerTime {
    /// Milliseconds since the Unix epoch.
    pub server_time: i64,
}

/// Error body of any Binance REST endpoint, e.g. `{"code": -2015, "msg": "…"}`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct BinanceError {
    /// Binance's error code, negative for errors (`200` in a few success bodies).
    pub code: i64,
    pub msg: String,
}

/// Response of `GET /fapi/v1/exchangeInfo`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeInfo {
    #[serde(default)]
    pub rate_limits: Vec<RateLimitInfo>,
    pub symbols: Vec<SymbolInfo>,
}

/// One published rate limit, e.g. 2400 `REQUEST_WEIGHT` per 1 `MINUTE`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitInfo {
    pub rate_limit_type: String,
    pub interval: String,
    pub interval_num: u32,
    pub limit: u32,
}

/// One contract of `exchangeInfo.symbols`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SymbolInfo {
    pub symbol: String,
    /// `PERPETUAL`, `CURRENT_QUARTER`, …; empty for settled contracts.
    pub contract_type: String,
    /// `TRADING`, `PENDING_TRADING`, `SETTLING`, …
    pub status: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub margin_asset: String,
    pub filters: Vec<SymbolFilter>,
}

/// One entry of a symbol's `filters`, by its `filterType`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "filterType")]
pub enum SymbolFilter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    Price {
        min_price: Decimal,
        max_price: Decimal,
        tick_size: Decimal,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MARKET_LOT_SIZE", rename_all = "camelCase")]
    MarketLotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MIN_NOTIONAL")]
    MinNotional { notional: Decimal },
    /// Filters keyward does not check itself (order counts, percent price band).
    #[serde(other)]
    Other,
}

/// One symbol of `GET /fapi/v1/leverageBracket`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SymbolBrackets {
    pub symbol: String,
    pub brackets: Vec<BracketEntry>,
}

/// One leverage tier; Binance sends these numbers as JSON numbers, not strings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BracketEntry {
    pub bracket: u32,
    #[serde(deserialize_with = "number_or_string")]
    pub initial_leverage: Decimal,
    #[serde(deserialize_with = "number_or_string")]
    pub notional_cap: Decimal,
    #[serde(deserialize_with = "number_or_string")]
    pub notional_floor: Decimal,
    #[serde(deserialize_with = "number_or_string")]
    pub maint_margin_ratio: Decimal,
}

/// One asset of `GET /fapi/v3/balance`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BalanceEntry {
    pub asset: String,
    pub balance: Decimal,
    pub cross_wallet_balance: Decimal,
    pub cross_un_pnl: Decimal,
    pub available_balance: Decimal,
    pub max_withdraw_amount: Decimal,
    pub update_time: i64,
}

/// One position of `GET /fapi/v3/positionRisk`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PositionRisk {
    pub symbol: String,
    /// `BOTH` in one-way mode, `LONG` or `SHORT` in hedge mode.
    pub position_side: String,
    /// Signed quantity.
    pub position_amt: Decimal,
    pub entry_price: Decimal,
    pub mark_price: Decimal,
    pub un_realized_profit: Decimal,
    pub liquidation_price: Decimal,
    pub update_time: i64,
}

/// Response of `POST /fapi/v1/leverage`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LeverageResponse {
    pub leverage: u32,
    pub max_notional_value: Decimal,
    pub symbol: String,
}

/// Response of `GET /fapi/v1/accountConfig`. Its `canTrade`, `canWithdraw` and so on
/// describe the account, not the API key; keyward reads only the position mode here.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccountConfig {
    /// True in hedge mode.
    pub dual_side_position: bool,
}

/// An order as `POST`, `GET` and `DELETE /fapi/v1/order` and `GET /fapi/v1/openOrders` send
/// it. Fields only some of them carry are optional.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrderResponse {
    pub symbol: String,
    pub order_id: i64,
    pub client_order_id: String,
    /// `NEW`, `PARTIALLY_FILLED`, `FILLED`, `CANCELED`, `REJECTED`, `EXPIRED`,
    /// `EXPIRED_IN_MATCH`.
    pub status: String,
    pub side: String,
    #[serde(rename = "type")]
    pub order_type: String,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub price: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub avg_price: Option<Decimal>,
    #[serde(default, deserialize_with = "optional_decimal")]
    pub stop_price: Option<Decimal>,
    #[serde(default)]
    pub reduce_only: bool,
    pub update_time: i64,
}

/// Response of `POST /fapi/v1/listenKey`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ListenKey {
    pub listen_key: String,
}

/// A message of a combined stream: `{"stream": "btcusdt@aggTrade", "data": {…}}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct CombinedMessage<T> {
    pub stream: String,
    pub data: T,
}

/// The response to a `SUBSCRIBE` request: `{"result": null, "id": 1}`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SubscribeResponse {
    pub result: Option<serde_json::Value>,
    pub id: u64,
}

/// A public stream event, by its `e` field.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "e")]
pub enum StreamEvent {
    #[serde(rename = "aggTrade")]
    AggTrade(AggTrade),
    #[serde(rename = "trade")]
    Trade(RawTrade),
    #[serde(rename = "kline")]
    Kline(KlineEvent),
    #[serde(rename = "bookTicker")]
    BookTicker(BookTickerEvent),
    #[serde(rename = "depthUpdate")]
    DepthUpdate(DepthUpdate),
}

/// `<symbol>@aggTrade`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AggTrade {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "a")]
    pub aggregate_id: u64,
    #[serde(rename = "p")]
    pub price: Decimal,
    #[serde(rename = "q")]
    pub quantity: Decimal,
    #[serde(rename = "T")]
    pub trade_time: i64,
    /// True when the buyer was the maker, so the taker sold.
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// `<symbol>@trade`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct RawTrade {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "t")]
    pub trade_id: u64,
    #[serde(rename = "p")]
    pub price: Decimal,
    #[serde(rename = "q")]
    pub quantity: Decimal,
    #[serde(rename = "T")]
    pub trade_time: i64,
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// `<symbol>@kline_<interval>`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct KlineEvent {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "k")]
    pub kline: Kline,
}

/// The candle of a kline event.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Kline {
    #[serde(rename = "t")]
    pub open_time: i64,
    #[serde(rename = "i")]
    pub interval: String,
    #[serde(rename = "o")]
    pub open: Decimal,
    #[serde(rename = "h")]
    pub high: Decimal,
    #[serde(rename = "l")]
    pub low: Decimal,
    #[serde(rename = "c")]
    pub close: Decimal,
    #[serde(rename = "v")]
    pub volume: Decimal,
    /// True on the candle's last update.
    #[serde(rename = "x")]
    pub closed: bool,
}

/// `<symbol>@bookTicker`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct BookTickerEvent {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "b")]
    pub bid_price: Decimal,
    #[serde(rename = "B")]
    pub bid_quantity: Decimal,
    #[serde(rename = "a")]
    pub ask_price: Decimal,
    #[serde(rename = "A")]
    pub ask_quantity: Decimal,
    #[serde(rename = "T", default)]
    pub transaction_time: i64,
}

/// `<symbol>@depth`: changed levels, zero quantity removes one.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct DepthUpdate {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "U")]
    pub first_update_id: u64,
    #[serde(rename = "u")]
    pub last_update_id: u64,
    #[serde(rename = "pu")]
    pub previous_update_id: u64,
    #[serde(rename = "T")]
    pub transaction_time: i64,
    #[serde(rename = "b")]
    pub bids: Vec<(Decimal, Decimal)>,
    #[serde(rename = "a")]
    pub asks: Vec<(Decimal, Decimal)>,
}

/// Response of `GET /fapi/v1/depth`, the snapshot depth updates apply to.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DepthSnapshot {
    pub last_update_id: u64,
    #[serde(rename = "T", default)]
    pub transaction_time: i64,
    pub bids: Vec<(Decimal, Decimal)>,
    pub asks: Vec<(Decimal, Decimal)>,
}

/// A user data stream event, by its `e` field.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "e")]
pub enum UserEvent {
    #[serde(rename = "ORDER_TRADE_UPDATE")]
    OrderTradeUpdate(Box<OrderTradeUpdate>),
    #[serde(rename = "ACCOUNT_UPDATE")]
    AccountUpdate(AccountUpdate),
    #[serde(rename = "listenKeyExpired")]
    ListenKeyExpired {},
    /// Events keyward does not use (margin calls, configuration changes).
    #[serde(other)]
    Other,
}

/// `ORDER_TRADE_UPDATE`: an order changed, with the trade that changed it if any.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct OrderTradeUpdate {
    #[serde(rename = "T")]
    pub transaction_time: i64,
    #[serde(rename = "o")]
    pub order: OrderUpdate,
}

/// The order of an `ORDER_TRADE_UPDATE`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct OrderUpdate {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "c")]
    pub client_order_id: String,
    #[serde(rename = "S")]
    pub side: String,
    #[serde(rename = "o")]
    pub order_type: String,
    #[serde(rename = "q")]
    pub quantity: Decimal,
    #[serde(rename = "p")]
    pub price: Decimal,
    #[serde(rename = "ap")]
    pub average_price: Decimal,
    #[serde(rename = "sp")]
    pub stop_price: Decimal,
    /// Execution type: `NEW`, `TRADE`, `CANCELED`, `EXPIRED`, …
    #[serde(rename = "x")]
    pub execution_type: String,
    #[serde(rename = "X")]
    pub status: String,
    #[serde(rename = "i")]
    pub order_id: i64,
    /// Quantity of this trade.
    #[serde(rename = "l")]
    pub last_quantity: Decimal,
    #[serde(rename = "z")]
    pub filled_quantity: Decimal,
    /// Price of this trade.
    #[serde(rename = "L")]
    pub last_price: Decimal,
    #[serde(rename = "N", default)]
    pub fee_asset: Option<String>,
    #[serde(rename = "n", default, deserialize_with = "optional_decimal")]
    pub fee: Option<Decimal>,
    #[serde(rename = "T")]
    pub trade_time: i64,
    #[serde(rename = "t")]
    pub trade_id: i64,
    #[serde(rename = "m")]
    pub maker: bool,
    #[serde(rename = "R")]
    pub reduce_only: bool,
    #[serde(rename = "rp", default, deserialize_with = "optional_decimal")]
    pub realized_pnl: Option<Decimal>,
}

/// `ACCOUNT_UPDATE`: balances and positions that changed.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AccountUpdate {
    #[serde(rename = "T")]
    pub transaction_time: i64,
    #[serde(rename = "a")]
    pub account: AccountUpdateData,
}

/// The data of an `ACCOUNT_UPDATE`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AccountUpdateData {
    #[serde(rename = "B", default)]
    pub balances: Vec<BalanceUpdate>,
    #[serde(rename = "P", default)]
    pub positions: Vec<PositionUpdate>,
}

/// One balance of an `ACCOUNT_UPDATE`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct BalanceUpdate {
    #[serde(rename = "a")]
    pub asset: String,
    #[serde(rename = "wb")]
    pub wallet_balance: Decimal,
    #[serde(rename = "cw")]
    pub cross_wallet_balance: Decimal,
}

/// One position of an `ACCOUNT_UPDATE`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PositionUpdate {
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "pa")]
    pub position_amount: Decimal,
    #[serde(rename = "ep")]
    pub entry_price: Decimal,
    #[serde(rename = "up")]
    pub unrealized_pnl: Decimal,
    #[serde(rename = "ps")]
    pub position_side: String,
}
