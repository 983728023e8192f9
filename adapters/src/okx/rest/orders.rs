//! Order calls: one placement, cancellation or lookup per request, which
//! [`crate::orders`] makes idempotent. Sizes go out in contracts of the instrument.

use keyward_events::Exchange;
use keyward_events::bot::{OrderKind, Side};

use super::{Call, OkxClient};
use crate::credentials::Credentials;
use crate::domain::{
    ClientOrderId, Instrument, OrderAck, OrderRequest, OrderState, OrderStatus, TimeInForce,
};
use crate::error::{AdapterError, OrderProblem};
use crate::okx::parse;
use crate::okx::wire::{OkxAlgoOrder, OkxAlgoResult, OkxOrder, OkxOrderResult};
use crate::orders::OrderVenue;
use crate::precision::wire_decimal;

/// Builds `POST /api/v5/trade/order`: cross margin, net position side, the size in contracts
/// and the client order id as `clOrdId`. The time in force is part of OKX's order type.
fn order_call(request: &OrderRequest, instrument: &Instrument) -> Result<Call, AdapterError> {
    let side = side_text(request.side());
    let order_type = match (request.kind(), request.time_in_force()) {
        (OrderKind::Market, _) => "market",
        (OrderKind::Limit, Some(TimeInForce::PostOnly)) => "post_only",
        (OrderKind::Limit, Some(TimeInForce::Ioc)) => "ioc",
        (OrderKind::Limit, Some(TimeInForce::Fok)) => "fok",
        (OrderKind::Limit, _) => "limit",
        (OrderKind::StopMarket, _) => return algo_call(request, instrument),
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

/// Builds `POST /api/v5/trade/order-algo` for a stop-market order: a `trigger` order that
/// sends a market order (`orderPx` `-1`) at `triggerPx`, with the client order id as
/// `algoClOrdId`.
fn algo_call(request: &OrderRequest, instrument: &Instrument) -> Result<Call, AdapterError> {
    let side = side_text(request.side());
    let trigger = request
        .trigger_price()
        .ok_or_else(|| AdapterError::InvalidOrder {
            symbol: request.symbol().to_owned(),
            problem: OrderProblem::PriceMissing,
        })?;
    let contracts = request.quantity() / instrument.contract_value;
    let mut call = Call {
        places_order: true,
        ..Call::post("/api/v5/trade/order-algo")
    }
    .param("instId", instrument.exchange_symbol.clone())
    .param("tdMode", "cross")
    .param("side", side)
    .param("ordType", "trigger")
    .param("sz", wire_decimal(contracts))
    .param("triggerPx", wire_decimal(trigger))
    .param("orderPx", "-1");
    if request.reduce_only() {
        call = call.param("reduceOnly", "true");
    }
    Ok(call.param("algoClOrdId", request.client_order_id().as_str()))
}

fn side_text(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

impl OkxClient {
    /// Reads an order by client order id: a regular order, or else a trigger algo order.
    pub(crate) async fn read_order(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        match self
            .read_regular_order(credentials, symbol, client_order_id)
            .await
        {
            Err(AdapterError::OrderNotFound { .. }) => {
                self.read_algo_order(credentials, symbol, client_order_id)
                    .await
            }
            other => other,
        }
    }

    async fn read_algo_order(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        let instrument = self.instrument_of(symbol).await?;
        let call =
            Call::get("/api/v5/trade/order-algo").param("algoClOrdId", client_order_id.as_str());
        let list: Vec<OkxAlgoOrder> = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(symbol, client_order_id.as_str()))?;
        let wire = parse::first(&self.endpoint(&call), list)?;
        parse::algo_status(wire, instrument.symbol.clone(), instrument.contract_value).map_err(
            |detail| parse::undecodable(&self.endpoint(&call), reqwest::StatusCode::OK, detail),
        )
    }

    /// Cancels a trigger algo order by its id and returns its state afterwards.
    async fn cancel_algo_order(
        &self,
        credentials: &Credentials,
        symbol: &str,
        client_order_id: &ClientOrderId,
    ) -> Result<OrderStatus, AdapterError> {
        let status = self
            .read_algo_order(credentials, symbol, client_order_id)
            .await?;
        if !status.state.is_open() {
            return Ok(status);
        }
        let instrument = self.instrument_of(symbol).await?;
        let entry = serde_json::json!([{
            "algoId": status.exchange_order_id,
            "instId": instrument.exchange_symbol,
        }]);
        let call = Call {
            array_body: Some(entry),
            ..Call::post("/api/v5/trade/cancel-algos")
        };
        let _: Vec<OkxAlgoResult> = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(symbol, client_order_id.as_str()))?;
        self.read_algo_order(credentials, symbol, client_order_id)
            .await
    }

    async fn read_regular_order(
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

        let mut algo_call = Call::get("/api/v5/trade/orders-algo-pending")
            .param("ordType", "trigger")
            .param("instType", "SWAP");
        if let Some((_, inst_id)) = call.query.iter().find(|(name, _)| *name == "instId") {
            algo_call = algo_call.param("instId", inst_id.clone());
        }
        let algo_list: Vec<OkxAlgoOrder> = self.signed(&algo_call, credentials).await?;

        let instruments = self.cached_instruments().await?;
        let instrument_of = |inst_id: &str| {
            instruments
                .iter()
                .find(|instrument| instrument.exchange_symbol == inst_id)
        };

        let mut orders = Vec::new();
        for wire in list {
            if let Some(instrument) = instrument_of(&wire.inst_id) {
                orders.push(self.order_status(&call, wire, instrument)?);
            }
        }
        for wire in algo_list {
            if let Some(instrument) = instrument_of(&wire.inst_id) {
                let status =
                    parse::algo_status(wire, instrument.symbol.clone(), instrument.contract_value)
                        .map_err(|detail| {
                            let endpoint = self.endpoint(&algo_call);
                            parse::undecodable(&endpoint, reqwest::StatusCode::OK, detail)
                        })?;
                orders.push(status);
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
        if request.kind() == OrderKind::StopMarket {
            return self.submit_algo(credentials, request, &call).await;
        }
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
        let cancelled: Result<Vec<OkxOrderResult>, AdapterError> = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(symbol, client_order_id.as_str()));
        match cancelled {
            Ok(_) => self.read_order(credentials, symbol, client_order_id).await,
            // No regular order by that id: it may be a trigger algo order.
            Err(AdapterError::OrderNotFound { .. }) => {
                self.cancel_algo_order(credentials, symbol, client_order_id)
                    .await
            }
            Err(error) => Err(error),
        }
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

impl OkxClient {
    /// Places a stop-market order as a trigger algo order.
    async fn submit_algo(
        &self,
        credentials: &Credentials,
        request: &OrderRequest,
        call: &Call,
    ) -> Result<OrderAck, AdapterError> {
        let order_id = request.client_order_id().as_str();
        let list: Vec<OkxAlgoResult> = self
            .signed(call, credentials)
            .await
            .map_err(|error| error.for_order(request.symbol(), order_id))?;
        let result = parse::first(&self.endpoint(call), list)?;
        tracing::info!(
            exchange = %Exchange::Okx,
            client_order_id = order_id,
            algo_id = %result.algo_id,
            "trigger order placed"
        );
        Ok(OrderAck {
            client_order_id: ClientOrderId::from_exchange(result.algo_cl_ord_id),
            exchange_order_id: result.algo_id,
            state: OrderState::New,
            filled_quantity: rust_decimal::Decimal::ZERO,
            average_price: None,
            acknowledged_at_ms: self.now_ms(),
            recovered: false,
            submissions: 1,
        })
    }
}
