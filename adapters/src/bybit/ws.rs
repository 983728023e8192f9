//! Bybit websocket streams.

use super::rest::BybitClient;
use crate::credentials::Credentials;
use crate::domain::{AccountStream, MarketStream, MarketSubscription};
use crate::error::AdapterError;

/// Opens the public linear stream.
// TODO: Bybit public (`/v5/public/linear`) and private (`/v5/private`) streams; until then the
// adapter returns `Unsupported` here and callers poll over REST.
pub(crate) fn market_stream(
    client: &BybitClient,
    subscriptions: &[MarketSubscription],
) -> Result<MarketStream, AdapterError> {
    let _ = (client, subscriptions);
    Err(AdapterError::Unsupported {
        exchange: keyward_events::Exchange::Bybit,
    })
}

/// Opens the private stream.
pub(crate) async fn account_stream(
    client: &BybitClient,
    credentials: &Credentials,
) -> Result<AccountStream, AdapterError> {
    let _ = (client, credentials);
    Err(AdapterError::Unsupported {
        exchange: keyward_events::Exchange::Bybit,
    })
}
