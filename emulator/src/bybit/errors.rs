//! The engine's refusals as Bybit's `retCode`s, sent with HTTP 200 as Bybit sends business
//! errors.

use super::auth::BybitError;
use crate::engine::EngineError;

/// Maps an engine error onto Bybit's code and message.
// NOTE: Bybit documents no distinct codes for a price off the tick or a quantity off the
// step, so both return 10001, the generic parameter error.
pub(crate) fn rejection(error: &EngineError) -> BybitError {
    let (code, msg) = match error {
        EngineError::UnknownSymbol(_) => (10001, "params error: symbol invalid".to_owned()),
        EngineError::PriceNotOnTick { price, tick } => (
            10001,
            format!("params error: price {price} is not a multiple of tickSize {tick}"),
        ),
        EngineError::QuantityNotOnStep { quantity, step } => (
            10001,
            format!("params error: qty {quantity} is not a multiple of qtyStep {step}"),
        ),
        EngineError::QuantityBelowMinimum { .. } => {
            (110017, "orderQty will be truncated to zero.".to_owned())
        }
        EngineError::QuantityAboveMaximum { .. } => (
            10001,
            "The number of contracts exceeds maximum limit allowed".to_owned(),
        ),
        EngineError::NotionalBelowMinimum { .. } => (
            110094,
            "Order notional value below the lower limit".to_owned(),
        ),
        EngineError::PriceOutOfRange { .. } => (
            110003,
            "Order price exceeds the allowable range.".to_owned(),
        ),
        EngineError::PriceMissing => (10001, "params error: price invalid".to_owned()),
        EngineError::NoMarketPrice(_) => (10016, "Internal server error.".to_owned()),
        EngineError::InsufficientMargin { .. } => {
            (110007, "Available balance is insufficient".to_owned())
        }
        EngineError::ExceedsLeverageBracket { .. } => (
            110090,
            "Order placement failed as your position may exceed the max limit.".to_owned(),
        ),
        EngineError::InvalidLeverage { .. } => (10001, "leverage invalid".to_owned()),
        EngineError::PositionSideMismatch => {
            (10001, "position idx not match position mode".to_owned())
        }
        EngineError::ReduceOnlyRejected => (
            110017,
            "Reduce-only order has same side with current position".to_owned(),
        ),
        EngineError::DuplicateClientOrderId(_) => (110072, "OrderLinkedID is duplicate".to_owned()),
        EngineError::OrderNotFound => (110001, "Order does not exist".to_owned()),
        EngineError::PositionModeUnchanged(_) => {
            (110025, "Position mode is not modified".to_owned())
        }
        EngineError::PositionModeBlockedByPosition | EngineError::PositionModeBlockedByOrders => (
            110024,
            "You have existing positions or orders, so position mode cannot be switched".to_owned(),
        ),
    };
    BybitError::new(code, msg)
}
