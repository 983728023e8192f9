//! The risk gate: every order intent passes it, and only it can approve an order.
//!
//! [`RiskGate::check`] evaluates every rule of a bot's [`RiskConfig`] on an intent and returns
//! the `OrderRiskChecked` payload to record, plus an [`ApprovedOrder`] when the verdict is
//! approved. `ApprovedOrder` has private fields and no public constructor, so code outside this
//! crate cannot hold an order that skipped the gate. The gate is asymmetric: an order that only
//! reduces the position is checked and recorded, but never blocked by limits on new risk.
//!
//! [`RiskGate::evaluate`] is the allocation-free hot path: it keeps each rule's compared values
//! as numbers, and the detail text is written only when the verdict is recorded.
//!
//! The crate does no I/O and reads no clock; the caller passes the time in [`RiskContext`].

mod config;
mod gate;
mod instrument;
mod rules;

pub use config::{LEVERAGE_CEILING, RiskConfig, RiskConfigError};
pub use gate::{AccountDailyLoss, ApprovedOrder, Evaluation, RiskContext, RiskDecision, RiskGate};
pub use instrument::{InstrumentRules, LeverageTier};
pub use rules::{RULE_COUNT, RULES, Rule, RuleResult, rule_names};

#[cfg(test)]
mod tests;
