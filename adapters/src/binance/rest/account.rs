//! Account calls: leverage brackets, balances, positions, leverage and position mode.

use keyward_events::Exchange;
use reqwest::Method;

use super::{BinanceClient, Call};
use crate::binance::parse;
use crate::credentials::Credentials;
use crate::domain::{Balance, LeverageBracket, LeverageSet, Position, PositionMode};
use crate::error::AdapterError;

/// Binance's error code when the position mode is already the one requested.
const NO_NEED_TO_CHANGE_POSITION_SIDE: i64 = -4059;

impl BinanceClient {
    pub(crate) async fn brackets(
        &self,
        credentials: &Credentials,
        symbol: &str,
    ) -> Result<Vec<LeverageBracket>, AdapterError> {
        let call = Call::get("/fapi/v1/leverageBracket", 1).param("symbol", symbol);
        let response = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(symbol, ""))?;
        parse::leverage_brackets(&self.endpoint(&call), &response.body, symbol)
    }

    pub(crate) async fn read_balances(
        &self,
        credentials: &Credentials,
    ) -> Result<Vec<Balance>, AdapterError> {
        let call = Call::get("/fapi/v3/balance", 5);
        let response = self.signed(&call, credentials).await?;
        parse::balances(&self.endpoint(&call), &response.body)
    }

    /// Reads positions and keeps the open ones.
    pub(crate) async fn read_positions(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<Vec<Position>, AdapterError> {
        let mut call = Call::get("/fapi/v3/positionRisk", 5);
        if let Some(symbol) = symbol {
            call = call.param("symbol", symbol);
        }
        let response = self.signed(&call, credentials).await?;
        let positions = parse::positions(&self.endpoint(&call), &response.body)?;
        Ok(positions
            .into_iter()
            .filter(|position| !position.is_flat())
            .collect())
    }

    /// Sets the leverage. Binance responds the same whether or not it changed, so
    /// [`LeverageSet::changed`] is always true here.
    pub(crate) async fn change_leverage(
        &self,
        credentials: &Credentials,
        symbol: &str,
        leverage: u32,
    ) -> Result<LeverageSet, AdapterError> {
        let call = Call::new(Method::POST, "/fapi/v1/leverage", 1)
            .param("symbol", symbol)
            .param("leverage", leverage.to_string());
        let response = self
            .signed(&call, credentials)
            .await
            .map_err(|error| error.for_order(symbol, ""))?;
        parse::leverage(&self.endpoint(&call), &response.body)
    }

    pub(crate) async fn read_position_mode(
        &self,
        credentials: &Credentials,
    ) -> Result<PositionMode, AdapterError> {
        let call = Call::get("/fapi/v1/accountConfig", 5);
        let response = self.signed(&call, credentials).await?;
        parse::position_mode(&self.endpoint(&call), &response.body)
    }

    /// Switches a hedge-mode account to one-way. Binance refuses while the account has open
    /// positions (-4068) or orders (-4067); the refusal comes back as
    /// [`AdapterError::PositionModeRefused`] with Binance's reason.
    pub(crate) async fn switch_to_one_way(
        &self,
        credentials: &Credentials,
    ) -> Result<(), AdapterError> {
        if self.read_position_mode(credentials).await? == PositionMode::OneWay {
            return Ok(());
        }
        let call = Call::new(Method::POST, "/fapi/v1/positionSide/dual", 1)
            .param("dualSidePosition", "false");
        match self.signed(&call, credentials).await {
            Ok(_) => {
                tracing::info!(exchange = %Exchange::Binance, "switched the account to one-way position mode");
                Ok(())
            }
            Err(AdapterError::Rejected { code, .. }) if code == NO_NEED_TO_CHANGE_POSITION_SIDE => {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}
