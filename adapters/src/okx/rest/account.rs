//! Account calls: leverage brackets, balances, positions, leverage and position mode.

use keyward_events::Exchange;

use super::{Call, OkxClient};
use crate::credentials::Credentials;
use crate::domain::{Balance, LeverageBracket, LeverageSet, Position, PositionMode};
use crate::error::AdapterError;
use crate::okx::parse;
use crate::okx::wire::{
    OkxAccountConfig, OkxBalance, OkxLeverage, OkxPosition, OkxPositionTier, OkxTicker,
};

impl OkxClient {
    /// Reads the cross-margin position tiers of a symbol's family, valued at the last price.
    // NOTE: OKX sizes tiers in contracts, so the brackets' position values move with the price
    // and hold only for the price at the time of the call.
    pub(crate) async fn brackets(
        &self,
        symbol: &str,
    ) -> Result<Vec<LeverageBracket>, AdapterError> {
        let instrument = self.instrument_of(symbol).await?;
        let ticker_call =
            Call::get("/api/v5/market/ticker").param("instId", instrument.exchange_symbol.clone());
        let ticker: OkxTicker = parse::first(
            &self.endpoint(&ticker_call),
            self.public(&ticker_call).await?,
        )?;
        let family = instrument
            .exchange_symbol
            .trim_end_matches("-SWAP")
            .to_owned();
        let call = Call::get("/api/v5/public/position-tiers")
            .param("instType", "SWAP")
            .param("tdMode", "cross")
            .param("instFamily", family);
        let tiers: Vec<OkxPositionTier> = self.public(&call).await?;
        Ok(parse::leverage_brackets(
            &tiers,
            instrument.contract_value,
            ticker.last,
        ))
    }

    pub(crate) async fn read_balances(
        &self,
        credentials: &Credentials,
    ) -> Result<Vec<Balance>, AdapterError> {
        let call = Call::get("/api/v5/account/balance");
        let list: Vec<OkxBalance> = self.signed(&call, credentials).await?;
        Ok(parse::balances(list))
    }

    /// Reads open swap positions, of one symbol or of all, in the base asset.
    pub(crate) async fn read_positions(
        &self,
        credentials: &Credentials,
        symbol: Option<&str>,
    ) -> Result<Vec<Position>, AdapterError> {
        let mut call = Call::get("/api/v5/account/positions").param("instType", "SWAP");
        if let Some(symbol) = symbol {
            let instrument = self.instrument_of(symbol).await?;
            call = call.param("instId", instrument.exchange_symbol);
        }
        let list: Vec<OkxPosition> = self.signed(&call, credentials).await?;
        let instruments = self.cached_instruments().await?;
        let mut positions = Vec::new();
        for wire in list {
            let Some(instrument) = instruments
                .iter()
                .find(|instrument| instrument.exchange_symbol == wire.inst_id)
            else {
                continue;
            };
            let position =
                parse::position(wire, instrument.symbol.clone(), instrument.contract_value);
            if !position.is_flat() {
                positions.push(position);
            }
        }
        Ok(positions)
    }

    /// Sets the cross-margin leverage. OKX returns the same response whether or not it changed, so
    /// [`LeverageSet::changed`] is always true here.
    // NOTE: keyward trades cross margin on OKX; isolated margin would need `posSide` too.
    pub(crate) async fn change_leverage(
        &self,
        credentials: &Credentials,
        symbol: &str,
        leverage: u32,
    ) -> Result<LeverageSet, AdapterError> {
        let instrument = self.instrument_of(symbol).await?;
        let call = Call::post("/api/v5/account/set-leverage")
            .param("instId", instrument.exchange_symbol)
            .param("lever", leverage.to_string())
            .param("mgnMode", "cross");
        let result = self.signed::<OkxLeverage>(&call, credentials).await;
        let list = match result {
            Ok(list) => list,
            Err(AdapterError::Rejected { code, msg, .. }) if code == parse::PARAMETER_ERROR => {
                return Err(AdapterError::InvalidLeverage {
                    exchange: Exchange::Okx,
                    code: Some(code),
                    msg,
                });
            }
            Err(error) => return Err(error.for_order(symbol, "")),
        };
        let set = parse::first(&self.endpoint(&call), list)?;
        Ok(LeverageSet {
            symbol: symbol.to_owned(),
            leverage: set.lever,
            max_notional: None,
            changed: true,
        })
    }

    pub(crate) async fn read_position_mode(
        &self,
        credentials: &Credentials,
    ) -> Result<PositionMode, AdapterError> {
        let call = Call::get("/api/v5/account/config");
        let endpoint = self.endpoint(&call);
        let config: OkxAccountConfig =
            parse::first(&endpoint, self.signed(&call, credentials).await?)?;
        parse::position_mode(&config.pos_mode)
            .map_err(|detail| parse::undecodable(&endpoint, reqwest::StatusCode::OK, detail))
    }

    /// Switches a long/short-mode account to net mode. OKX refuses while positions or orders
    /// are open (59000), which comes back as [`AdapterError::PositionModeRefused`].
    pub(crate) async fn switch_to_one_way(
        &self,
        credentials: &Credentials,
    ) -> Result<(), AdapterError> {
        if self.read_position_mode(credentials).await? == PositionMode::OneWay {
            return Ok(());
        }
        let call = Call::post("/api/v5/account/set-position-mode").param("posMode", "net_mode");
        self.signed::<serde_json::Value>(&call, credentials).await?;
        tracing::info!(exchange = %Exchange::Okx, "switched the account to one-way position mode");
        Ok(())
    }
}
