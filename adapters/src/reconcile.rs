//! REST reconciliation of an account stream after every (re)connect.
//!
//! A private stream misses whatever happens while it is disconnected. After each connection it
//! reads open orders, positions and balances over REST, and queries every order it last knew
//! as open that is no longer open, so a fill or cancellation during the gap is reported with
//! the order's final state.

use std::collections::BTreeMap;

use crate::client::ExchangeClient;
use crate::credentials::Credentials;
use crate::domain::{AccountEvent, AccountSnapshot, ClientOrderId, OrderStatus};
use crate::error::AdapterError;

/// The orders an account stream last knew as open, by client order id, with their symbol.
#[derive(Clone, Debug, Default)]
pub struct OpenOrders {
    orders: BTreeMap<ClientOrderId, String>,
}

impl OpenOrders {
    /// Follows an event of the stream.
    pub fn observe(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Order(status) => self.track(status),
            AccountEvent::Reconciled(snapshot) => {
                self.orders.clear();
                for status in &snapshot.open_orders {
                    self.track(status);
                }
            }
            _ => {}
        }
    }

    fn track(&mut self, status: &OrderStatus) {
        if status.state.is_open() {
            self.orders
                .insert(status.client_order_id.clone(), status.symbol.clone());
        } else {
            self.orders.remove(&status.client_order_id);
        }
    }

    /// Returns how many orders are tracked as open.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Returns whether no order is tracked as open.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }
}

/// Reads the account's state over REST and the final state of every order in `known` that is
/// no longer open. `now_ms` stamps the snapshot.
///
/// # Errors
/// Returns the first REST failure. An order the exchange no longer lists is left out.
pub async fn reconcile(
    client: &dyn ExchangeClient,
    credentials: &Credentials,
    known: &OpenOrders,
    now_ms: i64,
) -> Result<AccountSnapshot, AdapterError> {
    let open_orders = client.open_orders(credentials, None).await?;
    let mut closed_while_disconnected = Vec::new();
    for (client_order_id, symbol) in &known.orders {
        let still_open = open_orders
            .iter()
            .any(|order| &order.client_order_id == client_order_id);
        if still_open {
            continue;
        }
        match client
            .query_order(credentials, symbol, client_order_id)
            .await
        {
            Ok(status) => closed_while_disconnected.push(status),
            Err(AdapterError::OrderNotFound { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    let positions = client.positions(credentials, None).await?;
    let balances = client.balances(credentials).await?;
    tracing::info!(
        exchange = %client.exchange(),
        open_orders = open_orders.len(),
        closed_while_disconnected = closed_while_disconnected.len(),
        positions = positions.len(),
        "reconciled account stream over REST"
    );
    Ok(AccountSnapshot {
        open_orders,
        closed_while_disconnected,
        positions,
        balances,
        taken_at_ms: now_ms,
    })
}
