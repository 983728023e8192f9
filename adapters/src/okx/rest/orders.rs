//! Order calls: one placement, cancellation or lookup per request, which
//! [`crate::orders`] makes idempotent. Sizes go out in contracts of the instrument.

use keyward_events::Exchange;
use keyward_events::bot::{OrderKind, Side};

use super::{Call, OkxClient};
use crate::credentials::Credentials;
use crate::domain::{
    ClientOrderId, Instrument, OrderAck, OrderRequest, OrderState, OrderStatus, TimeInForce,
};
use crate::error::AdapterError;
use crate::okx::parse;
use crate::okx::wire::{OkxOrder, OkxOrderResult};
use crate::orders::OrderVenue;
use crate::precision::wire_decimal;

/// Builds `POST /api/v5/trade/order`: cross margin, net position side, the size in contracts
/// and the client order id as `clOrdId`. The time in force is part of OKX's order type.
fn order_call(request: &OrderRequest, instrument: &Instrument) -> Result<Call, AdapterError> {
    let side = match request.side() {
        Side::Buy => "buy",
        Side::Sell => "sell",
    };
    let order_type = match (request.kind(), request.time_in_force()) {
        (OrderKind::Market, _) => "market",
        (OrderKind::Limit, Some(TimeInForce::PostOnly)) => "post_only",
        (OrderKind::Limit, Some(TimeInForce::Ioc)) => "ioc",
        (OrderKind::Limit, Some(TimeInForce::Fok)) => "fok",
        (OrderKind::Limit, _) => "limit",
        // TODO: stop orders go through OKX's algo order endpoint (`/api/v5/trade/order-algo`).
        (OrderKind::StopMarket, _) => {
            return Err(AdapterError::Unsupported {
                exchange: Exchange::Okx,
            });
        }
    };
    let contracts = request.quantity() / instrument.contract_value;
    let mut call = Call {
        places_order: true,
        ..Call::post("/api/v5/trade/order")
    }
    .param("instId", instrument.exchange_symbol.clone())
    .param("tdMode", "cross")
    .param("side", side)
    .param("ordType", order_type)
    .param("sz", wire_decimal(contracts));
    if let Some(price) = request.price() {
        call = call.param("px", wire_decimal(price));
    }
    if request.reduce_only() {
        call = call.param("reduceOnly", "true");
    }
    Ok(call.param("clOrdId", request.client_order_id().as_str()))
}

impl OkxClient {
    pub(crate) async fn read_order(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        let instrument = self.instrument_of(symbol).await?;
        let call = Call::get("/api/v5/trade/order")
            .param("instId", instrument.exchange_symbol.clone())
            .param("clOrdId", client_order_id.as_str());
        let list: Vec<OkxOrder> = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(symbol, client_order_id.as_str()))?;
        let wire = parse::first(&self.endpoint(&call), list)?;
        self.order_status(&call, wire, &instrument)
    }

    pub(crate) async fn read_open_orders(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<Vec<OrderStatus>, AdapterError> {
        let mut call = Call::get("/api/v5/trade/orders-pending").param("instType", "SWAP");
        if let Some(symbol) = symbol {
            let instrument = self.instrument_of(symbol).await?;
            call = call.param("instId", instrument.exchange_symbol);
        }
        let list: Vec<OkxOrder> = self.signed(&call, credentials).await?;
        let instruments = self.cached_instruments().await?;
        let mut orders = Vec::new();
        for wire in list {
            let instrument = instruments
                .iter()
                .find(|instrument| instrument.exchange_symbol == wire.inst_id);
            if let Some(instrument) = instrument {
                orders.push(self.order_status(&call, wire, instrument)?);
            }
        }
        Ok(orders)
    }

    fn order_status(
        &self,
        call: &Call,
        wire: OkxOrder,
        instrument: &Instrument,
    ) -> Result<OrderStatus, AdapterError> {
        parse::order_status(wire, instrument.symbol.clone(), instrument.contract_value).map_err(
            |detail| parse::undecodable(&self.endpoint(call), reqwest::StatusCode::OK, detail),
        )
    }
}

#[async_trait::async_trait]
impl OrderVenue for OkxClient {
    fn venue_exchange(&self) -> Exchange {
        Exchange::Okx
    }

    /// Places the order. OKX only acknowledges it, so the state is [`OrderState::New`].
    async fn submit(
        &self,
        credentials: &Credentials,
        request: &OrderRequest,
    ) -> Result<OrderAck, AdapterError> {
        let instrument = self.instrument_of(request.symbol()).await?;
        let call = order_call(request, &instrument)?;
        let order_id = request.client_order_id().as_str();
        let list: Vec<OkxOrderResult> = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(request.symbol(), order_id))?;
        let result = parse::first(&self.endpoint(&call), list)?;
        tracing::info!(
            exchange = %Exchange::Okx,
            client_order_id = order_id,
            order_id = %result.ord_id,
            "order placed"
        );
        let acknowledged_at_ms = result
            .ts
            .as_deref()
            .and_then(|ts| ts.parse().ok())
            .unwrap_or_else(|| self.now_ms());
        Ok(OrderAck {
            client_order_id: ClientOrderId::from_exchange(result.cl_ord_id),
            exchange_order_id: result.ord_id,
            state: OrderState::New,
            filled_quantity: rust_decimal::Decimal::ZERO,
            average_price: None,
            acknowledged_at_ms,
            recovered: false,
            submissions: 1,
        })
    }

    /// Cancels the order, then reads its final state, because OKX returns the ids only.
    async fn cancel_once(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        let instrument = self.instrument_of(symbol).await?;
        let call = Call::post("/api/v5/trade/cancel-order")
            .param("instId", instrument.exchange_symbol)
            .param("clOrdId", client_order_id.as_str());
        let _: Vec<OkxOrderResult> = self
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
