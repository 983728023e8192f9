//! OKX websocket streams.

use super::rest::OkxClient;
use crate::credentials::Credentials;
use crate::domain::{AccountStream, MarketStream, MarketSubscription};
use crate::error::AdapterError;

/// Opens the public stream.
// TODO: OKX public (`/ws/v5/public`, `/ws/v5/business`) and private (`/ws/v5/private`)
// streams; until then the adapter returns `Unsupported` here and callers poll over REST.
pub(crate) fn market_stream(
    client: &OkxClient,
    subscriptions: &[MarketSubscription],
) -> Result<MarketStream, AdapterError> {
    let _ = (client, subscriptions);
    Err(AdapterError::Unsupported {
        exchange: keyward_events::Exchange::Okx,
    })
}

/// Opens the private stream.
pub(crate) async fn account_stream(
    client: &OkxClient,
    credentials: &Credentials,
) -> Result<AccountStream, AdapterError> {
    let _ = (client, credentials);
    Err(AdapterError::Unsupported {
        exchange: keyward_events::Exchange::Okx,
    })
}
