//! The engine's refusals as Binance's error responses: HTTP 400 with Binance's code and
//! message.

use axum::http::StatusCode;
use rust_decimal::Decimal;

use super::auth::Rejection;
use crate::engine::EngineError;

/// The request an engine error responds to, where Binance words the same refusal differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    Query,
    Cancel,
    Other,
}

fn bad(code: i64, msg: &str) -> Rejection {
    Rejection::new(StatusCode::BAD_REQUEST, code, msg)
}

/// Maps an engine error onto Binance's response. A price or quantity with more decimals than
/// its step is -1111 (precision), and one with allowed decimals but off the step is -4014 or
/// -4023.
pub(crate) fn rejection(error: &EngineError, request: Request) -> Rejection {
    match error {
        EngineError::UnknownSymbol(_) => bad(-1121, "Invalid symbol."),
        EngineError::PriceNotOnTick { price, tick } if too_precise(*price, *tick) => precision(),
        EngineError::PriceNotOnTick { .. } => bad(-4014, "Price not increased by tick size."),
        EngineError::QuantityNotOnStep { quantity, step } if too_precise(*quantity, *step) => {
            precision()
        }
        EngineError::QuantityNotOnStep { .. } => bad(-4023, "Qty not increased by step size."),
        EngineError::QuantityBelowMinimum { .. } => bad(-4004, "Quantity less than min quantity."),
        EngineError::QuantityAboveMaximum { .. } => {
            bad(-4005, "Quantity greater than max quantity.")
        }
        EngineError::NotionalBelowMinimum { min, .. } => bad(
            -4164,
            &format!(
                "Order's notional must be no smaller than {} (unless you choose reduce only)",
                one_decimal(*min)
            ),
        ),
        EngineError::PriceOutOfRange { .. } => bad(-4013, "Price less than min price."),
        EngineError::PriceMissing => Rejection::mandatory("price"),
        EngineError::NoMarketPrice(_) => bad(
            -1000,
            "An unknown error occurred while processing the request.",
        ),
        EngineError::InsufficientMargin { .. } => bad(-2019, "Margin is insufficient."),
        EngineError::ExceedsLeverageBracket { .. } => bad(
            -2027,
            "Exceeded the maximum allowable position at current leverage.",
        ),
        EngineError::InvalidLeverage { .. } => bad(-4028, "Invalid leverage"),
        EngineError::PositionSideMismatch => bad(
            -4061,
            "Order's position side does not match user's setting.",
        ),
        EngineError::ReduceOnlyRejected => bad(-2022, "ReduceOnly Order is rejected."),
        EngineError::DuplicateClientOrderId(_) => bad(-4116, "ClientOrderId is duplicated."),
        EngineError::OrderNotFound if request == Request::Cancel => {
            bad(-2011, "Unknown order sent.")
        }
        EngineError::OrderNotFound => bad(-2013, "Order does not exist."),
        EngineError::PositionModeUnchanged(_) => bad(-4059, "No need to change position side."),
        EngineError::PositionModeBlockedByPosition => bad(
            -4068,
            "Position side cannot be changed if there exists position.",
        ),
        EngineError::PositionModeBlockedByOrders => bad(
            -4067,
            "Position side cannot be changed if there exists open orders.",
        ),
    }
}

fn precision() -> Rejection {
    bad(
        -1111,
        "Precision is over the maximum defined for this asset.",
    )
}

/// Returns whether `value` has more decimals than `step`.
fn too_precise(value: Decimal, step: Decimal) -> bool {
    value.normalize().scale() > step.normalize().scale()
}

/// Writes a decimal with at least one decimal place, as Binance's messages do: `5` → `5.0`.
fn one_decimal(value: Decimal) -> String {
    let value = value.normalize();
    if value.scale() == 0 {
        format!("{value}.0")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn precision_is_told_apart_from_step() {
        let too_fine = EngineError::QuantityNotOnStep {
            quantity: dec("0.0291"),
            step: dec("0.001"),
        };
        assert_eq!(rejection(&too_fine, Request::Other).code, -1111);
        let off_step = EngineError::QuantityNotOnStep {
            quantity: dec("7"),
            step: dec("5"),
        };
        assert_eq!(rejection(&off_step, Request::Other).code, -4023);
        let price = EngineError::PriceNotOnTick {
            price: dec("60000.15"),
            tick: dec("0.10"),
        };
        assert_eq!(rejection(&price, Request::Other).code, -1111);
    }

    #[test]
    fn not_found_depends_on_request() {
        assert_eq!(
            rejection(&EngineError::OrderNotFound, Request::Query).code,
            -2013
        );
        assert_eq!(
            rejection(&EngineError::OrderNotFound, Request::Cancel).code,
            -2011
        );
    }

    #[test]
    fn notional_message_keeps_one_decimal() {
        assert_eq!(one_decimal(dec("5")), "5.0");
        assert_eq!(one_decimal(dec("5.50")), "5.5");
    }
}
