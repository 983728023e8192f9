//! Order calls: one placement, cancellation or lookup per request, which
//! [`crate::orders`] makes idempotent.

use keyward_events::Exchange;
use keyward_events::bot::{OrderKind, Side};
use reqwest::Method;

use super::{BinanceClient, Call};
use crate::binance::parse;
use crate::credentials::Credentials;
use crate::domain::{ClientOrderId, OrderAck, OrderRequest, OrderStatus, TimeInForce};
use crate::error::AdapterError;
use crate::orders::OrderVenue;
use crate::precision::wire_decimal;

const ORDER_PATH: &str = "/fapi/v1/order";

/// Builds `POST /fapi/v1/order` for a request: one-way mode (no `positionSide`), the
/// client order id as `newClientOrderId`, and `newOrderRespType=RESULT` so a market order's
/// fill comes back in the response.
fn new_order_call(request: &OrderRequest) -> Call {
    let side = match request.side() {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    };
    let order_type = match request.kind() {
        OrderKind::Market => "MARKET",
        OrderKind::Limit => "LIMIT",
        // NOTE: Binance is moving conditional orders to its algo order service; this sends
        // STOP_MARKET to /fapi/v1/order as the stored documentation describes.
        OrderKind::StopMarket => "STOP_MARKET",
    };
    let mut call = Call {
        places_order: true,
        ..Call::new(Method::POST, ORDER_PATH, 0)
    }
    .param("symbol", request.symbol())
    .param("side", side)
    .param("type", order_type)
    .param("quantity", wire_decimal(request.quantity()));
    if let Some(price) = request.price() {
        call = call.param("price", wire_decimal(price));
    }
    if let Some(time_in_force) = request.time_in_force() {
        call = call.param("timeInForce", time_in_force_text(time_in_force));
    }
    if let Some(trigger) = request.trigger_price() {
        call = call.param("stopPrice", wire_decimal(trigger));
    }
    if request.reduce_only() {
        call = call.param("reduceOnly", "true");
    }
    call.param("newClientOrderId", request.client_order_id().as_str())
        .param("newOrderRespType", "RESULT")
}

fn time_in_force_text(time_in_force: TimeInForce) -> &'static str {
    match time_in_force {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
        TimeInForce::PostOnly => "GTX",
    }
}

impl BinanceClient {
    pub(crate) async fn read_order(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        let call = Call::get(ORDER_PATH, 1)
            .param("symbol", symbol)
            .param("origClientOrderId", client_order_id.as_str());
        let response = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(symbol, client_order_id.as_str()))?;
        parse::order(&self.endpoint(&call), &response.body)
    }

    /// Reads open orders; without a symbol Binance counts weight 40.
    pub(crate) async fn read_open_orders(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<Vec<OrderStatus>, AdapterError> {
        let call = match symbol {
            Some(symbol) => Call::get("/fapi/v1/openOrders", 1).param("symbol", symbol),
            None => Call::get("/fapi/v1/openOrders", 40),
        };
        let response = self.signed(&call, credentials).await?;
        parse::orders(&self.endpoint(&call), &response.body)
    }
}

#[async_trait::async_trait]
impl OrderVenue for BinanceClient {
    fn venue_exchange(&self) -> Exchange {
        Exchange::Binance
    }

    async fn submit(
        &self,
        credentials: &Credentials,
        request: &OrderRequest,
    ) -> Result<OrderAck, AdapterError> {
        let call = new_order_call(request);
        let order_id = request.client_order_id().as_str();
        let response = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(request.symbol(), order_id))?;
        let status = parse::order(&self.endpoint(&call), &response.body)?;
        tracing::info!(
            exchange = %Exchange::Binance,
            client_order_id = order_id,
            order_id = %status.exchange_order_id,
            state = ?status.state,
            "order placed"
        );
        Ok(OrderAck::from_status(&status, false, 1))
    }

    async fn cancel_once(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        let call = Call::new(Method::DELETE, ORDER_PATH, 1)
            .param("symbol", symbol)
            .param("origClientOrderId", client_order_id.as_str());
        let response = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(symbol, client_order_id.as_str()))?;
        parse::order(&self.endpoint(&call), &response.body)
    }

    async fn lookup(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<OrderStatus>, AdapterError> {
        match self.read_order(credentials, symbol, client_order_id).await {
            Ok(status) => Ok(Some(status)),
            Err(AdapterError::OrderNotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}
