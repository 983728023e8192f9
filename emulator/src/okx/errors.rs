//! The engine's refusals as OKX's codes: per order (`sCode`) on trade endpoints, as a business
//! error elsewhere.

use axum::http::StatusCode;
use serde_json::json;

use super::auth::OkxError;
use crate::engine::EngineError;

/// The request an engine error responds to, where OKX words the same refusal differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    Query,
    Cancel,
    Other,
}

/// Returns OKX's code and message for an engine error.
// NOTE: OKX does not document which code a price off the tick returns; 51000 (parameter
// error) is assumed, as is 59102 for a leverage above the instrument's maximum.
fn code(error: &EngineError, request: Request) -> (&'static str, String) {
    let text = |text: &str| text.to_owned();
    match error {
        EngineError::UnknownSymbol(_) => {
            ("51001", text("Instrument ID or Spread ID doesn't exist."))
        }
        EngineError::PriceNotOnTick { .. } | EngineError::PriceMissing => {
            ("51000", text("Parameter px error"))
        }
        EngineError::QuantityNotOnStep { .. } => (
            "51121",
            text("Order quantity must be a multiple of the lot size."),
        ),
        EngineError::QuantityBelowMinimum { .. } | EngineError::NotionalBelowMinimum { .. } => (
            "51020",
            text("Your order should meet or exceed the minimum order amount."),
        ),
        EngineError::QuantityAboveMaximum { .. } => (
            "51202",
            text("Market order amount exceeds the maximum amount."),
        ),
        EngineError::PriceOutOfRange { .. } => {
            ("51006", text("Order price is not within the price limit."))
        }
        EngineError::NoMarketPrice(_) => (
            "50001",
            text("Service temporarily unavailable. Try again later"),
        ),
        EngineError::InsufficientMargin { .. } => (
            "51008",
            text("Order failed. Insufficient USDT margin in account "),
        ),
        EngineError::ExceedsLeverageBracket { .. } => (
            "51004",
            text("Order failed. The order amount exceeds the current tier limit."),
        ),
        EngineError::InvalidLeverage { max, .. } => (
            "59102",
            format!("Leverage exceeds the maximum leverage {max}. Adjust the leverage."),
        ),
        EngineError::PositionSideMismatch => ("51000", text("Parameter posSide error")),
        EngineError::ReduceOnlyRejected => (
            "51169",
            text(
                "Order failed because you don't have any positions in this direction for this contract to reduce or close.",
            ),
        ),
        EngineError::DuplicateClientOrderId(_) => ("51016", text("Duplicated client order ID")),
        EngineError::OrderNotFound if request == Request::Cancel => (
            "51400",
            text(
                "Order cancellation failed as the order has been filled, canceled or does not exist.",
            ),
        ),
        EngineError::OrderNotFound => ("51603", text("Order does not exist")),
        EngineError::PositionModeUnchanged(_)
        | EngineError::PositionModeBlockedByPosition
        | EngineError::PositionModeBlockedByOrders => (
            "59000",
            text("Settings failed. Close any open positions or orders before modifying settings."),
        ),
    }
}

/// Maps an engine error onto a business error: HTTP 200, `code` and `data: []`.
pub(crate) fn rejection(error: &EngineError, request: Request) -> OkxError {
    let (code, msg) = code(error, request);
    OkxError::business(code, msg)
}

/// Maps an engine error on a trade endpoint onto OKX's per-order failure: top-level code `1`
/// ("All operations failed") with the reason in `data[0].sCode`.
pub(crate) fn order_rejection(
    error: &EngineError,
    request: Request,
    client_order_id: &str,
    now_ms: i64,
) -> OkxError {
    let (code, msg) = code(error, request);
    OkxError {
        status: StatusCode::OK,
        code: "1".to_owned(),
        msg: "All operations failed".to_owned(),
        data: Some(vec![json!({
            "clOrdId": client_order_id,
            "ordId": "",
            "sCode": code,
            "sMsg": msg,
            "tag": "",
            "ts": now_ms.to_string(),
        })]),
    }
}
