//! Account calls: leverage brackets, balances, positions, leverage and position mode.

use keyward_events::Exchange;

use super::{BybitClient, Call};
use crate::bybit::parse;
use crate::bybit::wire::{BybitPositionPage, BybitRiskLimitPage, BybitWalletPage};
use crate::credentials::Credentials;
use crate::domain::{Balance, LeverageBracket, LeverageSet, Position, PositionMode};
use crate::error::AdapterError;

/// `retCode` of an invalid parameter, which `set-leverage` returns for a leverage outside the
/// instrument's range.
const PARAMETER_ERROR: i64 = 10_001;

impl BybitClient {
    /// Reads the risk-limit tiers, which are public on Bybit.
    pub(crate) async fn brackets(
        &self,
        symbol: &str,
    ) -> Result<Vec<LeverageBracket>, AdapterError> {
        let call = Call::get("/v5/market/risk-limit").param("symbol", symbol);
        let page: BybitRiskLimitPage = self
            .public(&call)
            .await
            .map_err(|error| error.for_order(symbol, ""))?;
        let brackets = parse::leverage_brackets(&page.list, symbol);
        if brackets.is_empty() {
            return Err(AdapterError::UnknownSymbol {
                exchange: Exchange::Bybit,
                symbol: symbol.to_owned(),
            });
        }
        Ok(brackets)
    }

    pub(crate) async fn read_balances(
        &self,
        credentials: &Credentials,
    ) -> Result<Vec<Balance>, AdapterError> {
        let call = Call::get("/v5/account/wallet-balance")
            .without_category()
            .param("accountType", "UNIFIED");
        let page: BybitWalletPage = self.signed(&call, credentials).await?;
        Ok(parse::balances(page))
    }

    /// Reads positions of one symbol, or every USDT-settled one, and keeps the open ones.
    pub(crate) async fn read_positions(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<Vec<Position>, AdapterError> {
        let page = self.position_list(credentials, symbol).await?;
        Ok(page
            .list
            .into_iter()
            .map(parse::position)
            .filter(|position| !position.is_flat())
            .collect())
    }

    async fn position_list(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<BybitPositionPage, AdapterError> {
        let call = match symbol {
            Some(symbol) => Call::get("/v5/position/list").param("symbol", symbol),
            None => Call::get("/v5/position/list").param("settleCoin", "USDT"),
        };
        self.signed(&call, credentials).await
    }

    /// Sets the same buy and sell leverage, as one-way mode requires. 110043 (not modified)
    /// is success with [`LeverageSet::changed`] false.
    pub(crate) async fn change_leverage(
        &self,
        credentials: &Credentials,
        symbol: &str,
        leverage: u32,
    ) -> Result<LeverageSet, AdapterError> {
        let call = Call::post("/v5/position/set-leverage")
            .param("symbol", symbol)
            .param("buyLeverage", leverage.to_string())
            .param("sellLeverage", leverage.to_string());
        let changed = match self.signed::<serde_json::Value>(&call, credentials).await {
            Ok(_) => true,
            Err(AdapterError::Rejected { code, .. }) if code == parse::LEVERAGE_NOT_MODIFIED => {
                false
            }
            Err(AdapterError::Rejected { code, msg, .. }) if code == PARAMETER_ERROR => {
                return Err(AdapterError::InvalidLeverage {
                    exchange: Exchange::Bybit,
                    code: Some(code),
                    msg,
                });
            }
            Err(error) => return Err(error.for_order(symbol, "")),
        };
        Ok(LeverageSet {
            symbol: symbol.to_owned(),
            leverage: leverage.into(),
            max_notional: None,
            changed,
        })
    }

    /// Reads the position mode from the position entries: those of every open USDT position,
    /// or, with none open, the flat entries Bybit lists for the first instrument.
    pub(crate) async fn read_position_mode(
        &self,
        credentials: &Credentials,
    ) -> Result<PositionMode, AdapterError> {
        let open = self.position_list(credentials, None).await?;
        if !open.list.is_empty() {
            return Ok(parse::position_mode(&open.list));
        }
        let instruments = self.cached_instruments().await?;
        let Some(first) = instruments.first() else {
            return Ok(PositionMode::OneWay);
        };
        let flat = self.position_list(credentials, Some(&first.symbol)).await?;
        Ok(parse::position_mode(&flat.list))
    }

    /// Switches USDT perpetuals to one-way mode (`mode` 0). Bybit refuses while positions or
    /// orders are open (110024), which comes back as [`AdapterError::PositionModeRefused`].
    pub(crate) async fn switch_to_one_way(
        &self,
        credentials: &Credentials,
    ) -> Result<(), AdapterError> {
        if self.read_position_mode(credentials).await? == PositionMode::OneWay {
            return Ok(());
        }
        let call = Call::post("/v5/position/switch-mode")
            .param("coin", "USDT")
            .param("mode", 0);
        match self.signed::<serde_json::Value>(&call, credentials).await {
            Ok(_) => {
                tracing::info!(exchange = %Exchange::Bybit, "switched the account to one-way position mode");
                Ok(())
            }
            Err(AdapterError::Rejected { code, .. })
                if code == parse::POSITION_MODE_NOT_MODIFIED =>
            {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}
