//! Order calls: one placement, cancellation or lookup per request, which
//! [`crate::orders`] makes idempotent.

use keyward_events::Exchange;
use keyward_events::bot::{OrderKind, Side};

use super::{BybitClient, Call};
use crate::bybit::parse;
use crate::bybit::wire::{BybitOrderIds, BybitOrderPage};
use crate::credentials::Credentials;
use crate::domain::{ClientOrderId, OrderAck, OrderRequest, OrderState, OrderStatus, TimeInForce};
use crate::error::AdapterError;
use crate::orders::OrderVenue;
use crate::precision::wire_decimal;

/// Builds `POST /v5/order/create`: one-way mode (`positionIdx` 0) and the client order id as
/// `orderLinkId`. A stop-market order is a market order with `triggerPrice`, triggered when
/// the price rises to it (buy, direction 1) or falls to it (sell, direction 2).
fn create_call(request: &OrderRequest) -> Call {
    let side = match request.side() {
        Side::Buy => "Buy",
        Side::Sell => "Sell",
    };
    let order_type = match request.kind() {
        OrderKind::Limit => "Limit",
        OrderKind::Market | OrderKind::StopMarket => "Market",
    };
    let mut call = Call {
        places_order: true,
        ..Call::post("/v5/order/create")
    }
    .param("symbol", request.symbol())
    .param("side", side)
    .param("orderType", order_type)
    .param("qty", wire_decimal(request.quantity()));
    if let Some(price) = request.price() {
        call = call.param("price", wire_decimal(price));
    }
    if let Some(time_in_force) = request.time_in_force() {
        call = call.param("timeInForce", time_in_force_text(time_in_force));
    }
    if let Some(trigger) = request.trigger_price() {
        let direction = match request.side() {
            Side::Buy => 1,
            Side::Sell => 2,
        };
        call = call
            .param("triggerPrice", wire_decimal(trigger))
            .param("triggerDirection", direction);
    }
    if request.reduce_only() {
        call = call.param("reduceOnly", true);
    }
    call.param("positionIdx", 0)
        .param("orderLinkId", request.client_order_id().as_str())
}

fn time_in_force_text(time_in_force: TimeInForce) -> &'static str {
    match time_in_force {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
        TimeInForce::PostOnly => "PostOnly",
    }
}

impl BybitClient {
    /// Reads one order by `orderLinkId`; Bybit lists recent closed orders too.
    pub(crate) async fn read_order(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        let call = Call::get("/v5/order/realtime")
            .param("symbol", symbol)
            .param("orderLinkId", client_order_id.as_str());
        let not_found = || AdapterError::OrderNotFound {
            exchange: Exchange::Bybit,
            symbol: symbol.to_owned(),
            client_order_id: client_order_id.to_string(),
        };
        let page: BybitOrderPage = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(symbol, client_order_id.as_str()))?;
        let wire = page.list.into_iter().next().ok_or_else(not_found)?;
        self.order_status(&call, wire)
    }

    /// Reads open orders of one symbol, or of every USDT-settled one.
    pub(crate) async fn read_open_orders(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<Vec<OrderStatus>, AdapterError> {
        let call = match symbol {
            Some(symbol) => Call::get("/v5/order/realtime").param("symbol", symbol),
            None => Call::get("/v5/order/realtime").param("settleCoin", "USDT"),
        };
        let page: BybitOrderPage = self.signed(&call, credentials).await?;
        page.list
            .into_iter()
            .map(|wire| self.order_status(&call, wire))
            .collect()
    }

    fn order_status(
        &self,
        call: &Call,
        wire: crate::bybit::wire::BybitOrder,
    ) -> Result<OrderStatus, AdapterError> {
        parse::order_status(wire).map_err(|detail| {
            parse::undecodable(&self.endpoint(call), reqwest::StatusCode::OK, detail)
        })
    }
}

#[async_trait::async_trait]
impl OrderVenue for BybitClient {
    fn venue_exchange(&self) -> Exchange {
        Exchange::Bybit
    }

    /// Places the order. Bybit only acknowledges it, so the state is [`OrderState::New`].
    async fn submit(
        &self,
        credentials: &Credentials,
        request: &OrderRequest,
    ) -> Result<OrderAck, AdapterError> {
        let call = create_call(request);
        let order_id = request.client_order_id().as_str();
        let ids: BybitOrderIds = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(request.symbol(), order_id))?;
        tracing::info!(
            exchange = %Exchange::Bybit,
            client_order_id = order_id,
            order_id = %ids.order_id,
            "order placed"
        );
        Ok(OrderAck {
            client_order_id: ClientOrderId::from_exchange(ids.order_link_id),
            exchange_order_id: ids.order_id,
            state: OrderState::New,
            filled_quantity: rust_decimal::Decimal::ZERO,
            average_price: None,
            acknowledged_at_ms: self.now_ms(),
            recovered: false,
            submissions: 1,
        })
    }

    /// Cancels the order, then reads its final state, because Bybit returns the ids only.
    async fn cancel_once(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        let call = Call::post("/v5/order/cancel")
            .param("symbol", symbol)
            .param("orderLinkId", client_order_id.as_str());
        let _: BybitOrderIds = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(symbol, client_order_id.as_str()))?;
        self.read_order(credentials, symbol, client_order_id).await
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
