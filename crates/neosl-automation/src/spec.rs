//! What a user registers: a trigger's condition and its action, as JSON, checked before
//! anything is stored.

use neosl_neo::param::ContractParameter;
use neosl_neo::{Address, UInt160};
use serde::{Deserialize, Serialize};

use crate::cron::Cron;
use crate::error::AutomationError;

/// A trigger as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// A name for people (1 to 100 characters).
    pub name: String,
    /// The condition.
    pub condition: Condition,
    /// What runs when it is met.
    pub action: Action,
    /// The most GAS (10⁻⁸) one execution's transaction may cost (system fee).
    #[serde(default = "default_gas_limit")]
    pub gas_limit: i64,
    /// What happens to firings missed while the platform was down.
    #[serde(default)]
    pub catch_up: CatchUp,
    /// Whether it starts enabled.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_gas_limit() -> i64 {
    100_000_000
}

fn yes() -> bool {
    true
}

/// Missed firings after downtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// One execution for all missed times (the latest).
    #[default]
    Once,
    /// One execution per missed time, in order.
    All,
    /// None: missed times are recorded as skipped.
    Skip,
}

impl CatchUp {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Once => "once",
            Self::All => "all",
            Self::Skip => "skip",
        }
    }
}

/// Above or below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Met when the value is above the threshold.
    Above,
    /// Met when the value is below the threshold.
    Below,
}

impl Direction {
    /// Whether `value` meets it against `threshold`.
    pub fn met(self, value: i64, threshold: i64) -> bool {
        match self {
            Self::Above => value > threshold,
            Self::Below => value < threshold,
        }
    }
}

/// When a trigger fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// On a cron schedule (UTC).
    Cron {
        /// `0 0 * * FRI`.
        expression: String,
        /// Not before (Unix ms).
        #[serde(default)]
        start_at: Option<i64>,
        /// Not after (Unix ms).
        #[serde(default)]
        end_at: Option<i64>,
    },
    /// When a DataFeeds pair crosses a threshold.
    Price {
        /// `BTC/USD`.
        pair: String,
        /// Above or below.
        direction: Direction,
        /// The threshold, a decimal (`100000`, `2.5`), compared at 8 decimals.
        threshold: String,
        /// Fire again after the price has gone back across (default: once only).
        #[serde(default)]
        rearm: bool,
    },
    /// When a balance crosses a threshold.
    Threshold {
        /// Whose balance.
        subject: Subject,
        /// Above or below.
        direction: Direction,
        /// In the token's smallest unit (10⁻⁸ GAS).
        amount: i64,
        /// Fire again after the balance has gone back across (default: yes).
        #[serde(default = "yes")]
        rearm: bool,
    },
    /// On a contract's notification.
    Event {
        /// The contract (`0x…`).
        contract: String,
        /// The notification's name.
        event: String,
        /// Argument filters, all of which must hold.
        #[serde(default)]
        filters: Vec<ArgFilter>,
    },
}

/// A balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Subject {
    /// A NEP-17 balance of an address.
    Nep17 {
        /// The address (`N…`).
        address: String,
        /// `GAS`, `NEO` or a token's script hash.
        token: String,
    },
    /// The owner's own GasBank balance.
    Gasbank,
}

/// One argument of a notification equals a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgFilter {
    /// The argument's position (from 0).
    pub index: usize,
    /// Its value: an integer as a decimal string, a string, hex bytes as `0x…`, or a
    /// `0x`-prefixed script hash, compared with the stack item's value.
    pub equals: String,
}

/// What a trigger does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// The contract to call (`0x…`).
    pub contract: String,
    /// Its method.
    pub method: String,
    /// The arguments.
    #[serde(default)]
    pub args: Vec<ActionArg>,
}

/// An action's argument: fixed, or taken from what fired the trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ActionArg {
    /// From the firing: `{"from": "event_arg", "index": 0}`, `{"from": "price"}`,
    /// `{"from": "fired_at"}` (Unix ms), `{"from": "value"}` (the balance that crossed).
    From {
        /// `event_arg`, `price`, `fired_at` or `value`.
        from: String,
        /// For `event_arg`.
        #[serde(default)]
        index: Option<usize>,
    },
    /// A contract parameter in Neo's RPC JSON form (`{"type": "Integer", "value": "5"}`).
    Fixed(serde_json::Value),
}

/// The largest threshold: 10¹⁰ units at 8 decimals.
const MAX_PRICE: i64 = 1_000_000_000_000_000_000;

/// A decimal threshold at 8 decimals.
pub fn price_threshold(text: &str) -> Result<i64, AutomationError> {
    let invalid = || {
        AutomationError::InvalidCondition(format!("threshold {text:?} is not a positive decimal"))
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty()
        || text.ends_with('.')
        || int.len() > 11
        || frac.len() > 8
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let mut value: i64 = int.parse().map_err(|_| invalid())?;
    value = value.checked_mul(100_000_000).ok_or_else(invalid)?;
    let frac_value: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<8}").parse().map_err(|_| invalid())?
    };
    let value = value + frac_value;
    if value <= 0 || value > MAX_PRICE {
        return Err(invalid());
    }
    Ok(value)
}

/// A contract hash in display form.
pub fn contract_hash(text: &str) -> Result<UInt160, AutomationError> {
    UInt160::parse_display(text)
        .map_err(|_| AutomationError::InvalidContract(text.chars().take(60).collect()))
}

/// The token a threshold watches.
pub fn token_hash(token: &str) -> Result<UInt160, AutomationError> {
    match token.to_ascii_uppercase().as_str() {
        "GAS" => Ok(neosl_neo::native::GAS),
        "NEO" => Ok(neosl_neo::native::NEO),
        _ => contract_hash(token),
    }
}

impl TriggerSpec {
    /// Checks everything that needs no chain: names, expressions, hashes, addresses, limits.
    pub fn check(&self, max_gas_limit: i64) -> Result<(), AutomationError> {
        let name_len = self.name.chars().count();
        if !(1..=100).contains(&name_len) {
            return Err(AutomationError::InvalidName);
        }
        if self.gas_limit <= 0 || self.gas_limit > max_gas_limit {
            return Err(AutomationError::InvalidGasLimit(max_gas_limit));
        }
        match &self.condition {
            Condition::Cron {
                expression,
                start_at,
                end_at,
            } => {
                Cron::parse(expression).map_err(|e| AutomationError::InvalidCron(e.0))?;
                if let (Some(s), Some(e)) = (start_at, end_at)
                    && e <= s
                {
                    return Err(AutomationError::InvalidCondition(
                        "end_at must be after start_at".into(),
                    ));
                }
            }
            Condition::Price { threshold, .. } => {
                price_threshold(threshold)?;
            }
            Condition::Threshold {
                subject, amount, ..
            } => {
                if *amount < 0 {
                    return Err(AutomationError::InvalidCondition(
                        "amount must not be negative".into(),
                    ));
                }
                if let Subject::Nep17 { address, token } = subject {
                    Address::parse(address).map_err(|_| {
                        AutomationError::InvalidAddress(address.chars().take(60).collect())
                    })?;
                    token_hash(token)?;
                }
            }
            Condition::Event {
                contract,
                event,
                filters,
            } => {
                contract_hash(contract)?;
                if event.is_empty() || event.len() > 32 {
                    return Err(AutomationError::InvalidCondition(
                        "an event name is 1 to 32 characters".into(),
                    ));
                }
                if filters.len() > 16
                    || filters.iter().any(|f| f.index > 15 || f.equals.len() > 256)
                {
                    return Err(AutomationError::InvalidCondition(
                        "at most 16 filters, on arguments 0 to 15".into(),
                    ));
                }
            }
        }
        contract_hash(&self.action.contract)?;
        if self.action.method.is_empty() || self.action.method.len() > 64 {
            return Err(AutomationError::InvalidMethod(self.action.method.clone()));
        }
        if self.action.args.len() > 16 {
            return Err(AutomationError::InvalidArguments(
                "at most 16 arguments".into(),
            ));
        }
        for arg in &self.action.args {
            match arg {
                ActionArg::Fixed(v) => {
                    ContractParameter::from_json(v)
                        .map_err(|e| AutomationError::InvalidArguments(e.to_string()))?;
                }
                ActionArg::From { from, index } => {
                    let fits = match (from.as_str(), &self.condition) {
                        ("event_arg", Condition::Event { .. }) => index.is_some_and(|i| i < 16),
                        ("price", Condition::Price { .. }) => true,
                        ("value", Condition::Threshold { .. }) => true,
                        ("fired_at", _) => true,
                        _ => false,
                    };
                    if !fits {
                        return Err(AutomationError::InvalidArguments(format!(
                            "{{\"from\": {from:?}}} does not fit a {} trigger",
                            self.condition.kind()
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Condition {
    /// `cron`, `price`, `threshold` or `event`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cron { .. } => "cron",
            Self::Price { .. } => "price",
            Self::Threshold { .. } => "threshold",
            Self::Event { .. } => "event",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_thresholds_are_exact_integers() {
        assert_eq!(price_threshold("100000").ok(), Some(10_000_000_000_000));
        assert_eq!(price_threshold("2.5").ok(), Some(250_000_000));
        assert_eq!(price_threshold("0.00000001").ok(), Some(1));
        for bad in [
            "",
            "0",
            "-1",
            "1e5",
            "1.000000001",
            "abc",
            "1.",
            ".5",
            "99999999999999",
        ] {
            assert!(price_threshold(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_spec_reads_from_json_and_refuses_unknown_fields() {
        let spec: TriggerSpec = serde_json::from_value(serde_json::json!({
            "name": "weekly",
            "condition": {"type": "cron", "expression": "0 0 * * FRI"},
            "action": {"contract": "0x1111111111111111111111111111111111111111", "method": "run",
                       "args": [{"type": "Integer", "value": "1"}, {"from": "fired_at"}]}
        }))
        .expect("reads");
        assert_eq!(spec.catch_up, CatchUp::Once);
        assert!(spec.check(1_000_000_000).is_ok());
        assert!(serde_json::from_value::<TriggerSpec>(serde_json::json!({
            "name": "x", "condition": {"type": "cron", "expression": "* * * * *", "every": 1},
            "action": {"contract": "0x1111111111111111111111111111111111111111", "method": "run"}
        }))
        .is_err());
    }
}
