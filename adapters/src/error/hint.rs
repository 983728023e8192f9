//! The sentence a user can act on, per kind of adapter failure.

use keyward_events::Exchange;

use super::AdapterError;

/// Returns what the user should do about `error`.
pub(super) fn hint(error: &AdapterError) -> String {
    credential_hint(error)
        .or_else(|| order_hint(error))
        .unwrap_or_else(|| service_hint(error))
}

fn credential_hint(error: &AdapterError) -> Option<String> {
    let text = match error {
        AdapterError::InvalidKey {
            exchange: Exchange::Binance,
            ..
        } => {
            "Check that the API key is copied exactly, that this server's IP address is on \
              the key's IP allowlist, that the key has the permissions keyward needs (reading \
              and futures trading), and that it belongs to the environment keyward is \
              configured for (a testnet key does not work in production, nor the reverse); \
              Binance gives all of these problems the same code."
        }
        AdapterError::InvalidKey { .. } => {
            "Check that the API key is copied exactly, is still active, and belongs to the \
             environment keyward is configured for (testnet or production)."
        }
        AdapterError::InvalidSignature { .. } => {
            "Check the API secret: it does not match the API key. Paste it again exactly."
        }
        AdapterError::IpNotAllowed { .. } => {
            "Add this server's public IP address to the key's IP allowlist on the exchange."
        }
        AdapterError::PermissionDenied { .. } => {
            "Edit the key on the exchange and enable the permission keyward needs (reading and \
             futures trading); withdrawals and transfers must stay off."
        }
        AdapterError::EnvironmentMismatch { .. } => {
            "Use a key created in the environment keyward is configured for: a testnet or demo \
             key works only against the testnet or demo host, a production key only in \
             production."
        }
        AdapterError::InvalidPassphrase { .. } => {
            "Enter the passphrase you chose when creating the key on the exchange, exactly."
        }
        AdapterError::InvalidCredentials { .. } => {
            "OKX keys come with a passphrase; Binance and Bybit keys have none. Add the key \
             again with or without one as the exchange requires."
        }
        AdapterError::ClockSkew { .. } => {
            "Synchronize this server's clock (NTP); keyward resynchronized once and retried."
        }
        _ => return None,
    };
    Some(text.to_owned())
}

fn order_hint(error: &AdapterError) -> Option<String> {
    let text = match error {
        AdapterError::FilterRejected { .. } | AdapterError::InvalidOrder { .. } => {
            "Change the order's size or price: it must be a multiple of the instrument's step \
             and tick and reach its minimum quantity and value. Reload the instrument rules if \
             the exchange changed them."
        }
        AdapterError::InsufficientMargin { .. } => {
            "Reduce the order's size or leverage, or add margin to the futures account."
        }
        AdapterError::InvalidLeverage { .. } => {
            "Choose a leverage within the instrument's bracket for the position size."
        }
        AdapterError::PositionModeRefused { .. } => {
            "Close the account's open positions and orders, then switch it to one-way position \
             mode on the exchange; keyward trades only in one-way mode."
        }
        AdapterError::OrderNotFound { .. } => {
            "The exchange has no such order; it was never placed or is too old to query."
        }
        AdapterError::DuplicateOrder { .. } => {
            "The order was already placed; keyward looks it up instead of placing it again."
        }
        AdapterError::UnknownSymbol { .. } => {
            "Check the symbol: keyward writes every instrument like BTCUSDT."
        }
        _ => return None,
    };
    Some(text.to_owned())
}

fn service_hint(error: &AdapterError) -> String {
    match error {
        AdapterError::RateLimited {
            retry_after: Some(wait),
            ..
        } => format!(
            "Wait {} s before retrying; keyward backs off.",
            wait.as_secs()
        ),
        AdapterError::RateLimited { .. } => {
            "Wait a minute before retrying; keyward backs off.".to_owned()
        }
        AdapterError::ExecutionUnknown { .. } => {
            "keyward looks the order up by its client order id before any retry.".to_owned()
        }
        AdapterError::Rejected { .. } => {
            "Read the exchange's message above; the request needs a change before a retry."
                .to_owned()
        }
        AdapterError::Undecodable { .. } => {
            "Check that the configured exchange URL points at the exchange's API; the response \
             did not have the documented shape."
                .to_owned()
        }
        AdapterError::Unsupported { .. } => {
            "Use a key of an exchange this build supports.".to_owned()
        }
        AdapterError::Signer(_) => {
            "Check that the vault is unlocked and the key's secret is still stored.".to_owned()
        }
        _ => "The exchange is unreachable or failing; keyward retries later. Check the network \
              and the configured exchange URL if this persists."
            .to_owned(),
    }
}
