//! [`ExchangeClient`] for OKX, on top of the REST calls and the websocket streams.

use keyward_events::Exchange;

use super::OkxClient;
use crate::client::{ExchangeClient, ProbeReport};
use crate::credentials::Credentials;
use crate::domain::{
    AccountStream, Balance, ClientOrderId, Instrument, LeverageBracket, LeverageSet, MarketStream,
    MarketSubscription, OrderAck, OrderRequest, OrderStatus, Position, PositionMode,
};
use crate::error::AdapterError;
use crate::okx::ws;
use crate::orders::{cancel_idempotent, place_idempotent};

#[async_trait::async_trait]
impl ExchangeClient for OkxClient {
    fn exchange(&self) -> Exchange {
        Exchange::Okx
    }

    /// Returns the REST base URL.
    fn host(&self) -> &str {
        self.verified_host()
    }

    async fn server_time(&self) -> Result<i64, AdapterError> {
        self.read_server_time().await
    }

    async fn probe(&self, credentials: &Credentials) -> Result<ProbeReport, AdapterError> {
        self.probe_key(credentials).await
    }

    async fn instruments(&self) -> Result<Vec<Instrument>, AdapterError> {
        self.cached_instruments().await
    }

    async fn leverage_brackets(
        &self,
        credentials: &Credentials,
        symbol: &str,
    ) -> Result<Vec<LeverageBracket>, AdapterError> {
        // OKX publishes its position tiers without a signature.
        let _ = credentials;
        self.brackets(symbol).await
    }

    async fn balances(&self, credentials: &Credentials) -> Result<Vec<Balance>, AdapterError> {
        self.read_balances(credentials).await
    }

    async fn positions(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<Vec<Position>, AdapterError> {
        self.read_positions(credentials, symbol).await
    }

    async fn set_leverage(
        &self,
        credentials: &Credentials,
        symbol: &str,
        leverage: u32,
    ) -> Result<LeverageSet, AdapterError> {
        self.change_leverage(credentials, symbol, leverage).await
    }

    async fn position_mode(&self, credentials: &Credentials) -> Result<PositionMode, AdapterError> {
        self.read_position_mode(credentials).await
    }

    async fn ensure_one_way(&self, credentials: &Credentials) -> Result<(), AdapterError> {
        self.switch_to_one_way(credentials).await
    }

    async fn place_order(
        &self,
        credentials: &Credentials,
        order: &OrderRequest,
    ) -> Result<OrderAck, AdapterError> {
        place_idempotent(self, credentials, order, &self.options().orders).await
    }

    async fn cancel_order(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        let policy = self.options().orders;
        cancel_idempotent(self, credentials, symbol, client_order_id, &policy).await
    }

    async fn query_order(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        self.read_order(credentials, symbol, client_order_id).await
    }

    async fn open_orders(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<Vec<OrderStatus>, AdapterError> {
        self.read_open_orders(credentials, symbol).await
    }

    async fn market_stream(
        &self,
        subscriptions: &[MarketSubscription],
    ) -> Result<MarketStream, AdapterError> {
        ws::market_stream(self, subscriptions).await
    }

    async fn account_stream(
        &self,
        credentials: &Credentials,
    ) -> Result<AccountStream, AdapterError> {
        ws::account_stream(self, credentials).await
    }
}
