//! What a user asks for (seed 004 §4.2.4), checked before anything is locked or signed, and the
//! fee it costs. Pure.

use neosl_neo::{Address, UInt160, UInt256};
use serde::{Deserialize, Serialize};

use crate::error::MixerError;
use crate::settings::{GAS, MIX_OPTIONS_MS, MixerSettings};

/// The most input transactions a request may name.
pub const MAX_INPUT_TXS: usize = 16;

/// `POST /mixer/request`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixRequestBody {
    /// The format's version (1).
    pub version: i64,
    /// The user's address: deposits come from it, disputes need its witness, compensation goes
    /// to it.
    pub user_address: String,
    /// Transactions the user names as the deposit (optional).
    #[serde(default)]
    pub input_txs: Vec<String>,
    /// Where the GAS goes: each target receives exactly its amount.
    pub targets: Vec<TargetBody>,
    /// The mix window, milliseconds: 1800000, 3600000, 86400000 or 604800000.
    pub mix_option: i64,
    /// When the user made the request, Unix seconds.
    pub timestamp: i64,
}

/// One target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    /// A Neo address.
    pub address: String,
    /// GAS, as a decimal string with at most 8 decimals (`"5"`, `"0.25"`).
    pub amount: String,
}

/// A checked request, before accounts are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The user.
    pub user: UInt160,
    /// The targets and their amounts (10⁻⁸ GAS).
    pub targets: Vec<(UInt160, i64)>,
    /// Their sum.
    pub net: i64,
    /// The Mixer's fee (the fee schedule's `mixer` rule on `net`).
    pub service_fee: i64,
    /// The chain cost: `transfers` times the allowance.
    pub chain_cost: i64,
    /// `net + service_fee + chain_cost`: what the user deposits.
    pub total: i64,
    /// How many deposit accounts receive it.
    pub deposit_accounts: usize,
    /// How many GAS transfers the mix may take at most ([`transfer_budget`]).
    pub transfers: usize,
    /// The request's time, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The chosen window (unscaled), ms.
    pub mix_option_ms: i64,
    /// Input transactions.
    pub input_txs: Vec<UInt256>,
}

/// Hop accounts every mix goes through (deliveries never come from a deposit account).
pub const HOPS: usize = 2;

/// From this net amount on, the deposit is split over two accounts.
pub const SPLIT_DEPOSIT_FROM: i64 = 100 * GAS;

/// The GAS transfers a mix of `deposit_accounts` deposits and `targets` targets may need at
/// most (see [`crate::plan::mix_plan`]): each deposit account may split into two, one move
/// between the hops, one delivery per target plus one split, and two allowances that a hop may
/// be left holding unspent.
pub fn transfer_budget(deposit_accounts: usize, targets: usize) -> usize {
    2 * deposit_accounts + 1 + targets + 3
}

/// Parses a GAS amount: digits, optionally a point and 1 to 8 more digits; positive.
pub fn parse_gas(text: &str) -> Result<i64, MixerError> {
    let bad = || MixerError::InvalidAmount(text.chars().take(40).collect());
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 12
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 8
        || (text.contains('.') && frac.is_empty())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<8}").parse().map_err(|_| bad())?
    };
    let value = whole
        .checked_mul(GAS)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(bad)?;
    if value <= 0 {
        return Err(bad());
    }
    Ok(value)
}

/// Shows 10⁻⁸ GAS as a decimal string (`"5"`, `"0.25"`).
pub fn format_gas(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let v = value.unsigned_abs();
    let (whole, frac) = (v / GAS as u64, v % GAS as u64);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let f = format!("{frac:08}");
        format!("{sign}{whole}.{}", f.trim_end_matches('0'))
    }
}

fn parse_address(text: &str) -> Result<UInt160, MixerError> {
    Address::parse(text)
        .map(|a| a.script_hash())
        .map_err(|_| MixerError::InvalidAddress(text.chars().take(64).collect()))
}

/// Checks `body` against the settings, the fee schedule's `fee` (the `mixer` rule on the net
/// amount) and the clock `now_ms`.
pub fn check(
    body: &MixRequestBody,
    settings: &MixerSettings,
    service_fee: impl Fn(i64) -> Option<i64>,
    now_ms: i64,
) -> Result<Checked, MixerError> {
    if body.version != 1 {
        return Err(MixerError::UnsupportedVersion(body.version));
    }
    let user = parse_address(&body.user_address)?;
    if !MIX_OPTIONS_MS.contains(&body.mix_option) {
        return Err(MixerError::InvalidMixOption(body.mix_option));
    }
    let skew = settings.timestamp_skew_secs;
    let timestamp_ms = body
        .timestamp
        .checked_mul(1000)
        .filter(|t| (t - now_ms).abs() <= skew * 1000)
        .ok_or(MixerError::InvalidTimestamp(skew))?;
    if body.targets.is_empty() || body.targets.len() > settings.max_targets {
        return Err(MixerError::InvalidTargets(format!(
            "a request has 1 to {} targets",
            settings.max_targets
        )));
    }
    let mut targets = Vec::with_capacity(body.targets.len());
    let mut net: i64 = 0;
    for t in &body.targets {
        let hash = parse_address(&t.address)?;
        if hash == user {
            return Err(MixerError::InvalidTargets(
                "a target cannot be the user's own address".into(),
            ));
        }
        if targets.iter().any(|(h, _)| *h == hash) {
            return Err(MixerError::InvalidTargets(format!(
                "{} is a target twice",
                t.address
            )));
        }
        let amount = parse_gas(&t.amount)?;
        net = net
            .checked_add(amount)
            .ok_or_else(|| MixerError::InvalidAmount(t.amount.clone()))?;
        targets.push((hash, amount));
    }
    if body.input_txs.len() > MAX_INPUT_TXS {
        return Err(MixerError::InvalidInputTxs(format!(
            "at most {MAX_INPUT_TXS} input transactions"
        )));
    }
    let input_txs = body
        .input_txs
        .iter()
        .map(|t| {
            UInt256::parse_display(t).map_err(|_| {
                MixerError::InvalidInputTxs(format!(
                    "{:?} is not a transaction hash (0x and 64 hex digits)",
                    t.chars().take(80).collect::<String>()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let over = |total: i64| MixerError::RequestOverLimit {
        limit: settings.max_request,
        total,
    };
    if net > settings.max_request {
        return Err(over(net));
    }
    let deposit_accounts = if net >= SPLIT_DEPOSIT_FROM { 2 } else { 1 };
    let transfers = transfer_budget(deposit_accounts, targets.len());
    let service_fee = service_fee(net).ok_or(over(i64::MAX))?;
    let chain_cost = settings.transfer_allowance * transfers as i64;
    let total = net
        .checked_add(service_fee)
        .and_then(|t| t.checked_add(chain_cost))
        .ok_or(over(i64::MAX))?;
    if total > settings.max_request {
        return Err(over(total));
    }
    Ok(Checked {
        user,
        targets,
        net,
        service_fee,
        chain_cost,
        total,
        deposit_accounts,
        transfers,
        timestamp_ms,
        mix_option_ms: body.mix_option,
        input_txs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> String {
        target(200)
    }

    fn target(n: u8) -> String {
        Address::from_script_hash(UInt160::from_be_bytes([n; 20])).to_string()
    }

    fn body(amounts: &[&str]) -> MixRequestBody {
        MixRequestBody {
            version: 1,
            user_address: user(),
            input_txs: vec![],
            targets: amounts
                .iter()
                .enumerate()
                .map(|(i, a)| TargetBody {
                    address: target(i as u8 + 1),
                    amount: (*a).into(),
                })
                .collect(),
            mix_option: 3_600_000,
            timestamp: 1_730_000_000,
        }
    }

    fn fee(net: i64) -> Option<i64> {
        Some(5_000_000 + (net * 50 + 9_999) / 10_000)
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(parse_gas("5").expect("present"), 5 * GAS);
        assert_eq!(parse_gas("0.00000001").expect("present"), 1);
        assert_eq!(parse_gas("12.5").expect("present"), 1_250_000_000);
        for bad in [
            "0",
            "0.0",
            "-1",
            "1.",
            ".5",
            "1.123456789",
            "1e3",
            "",
            " 1",
            "9999999999999",
        ] {
            assert!(parse_gas(bad).is_err(), "{bad}");
        }
        assert_eq!(format_gas(1_250_000_000), "12.5");
        assert_eq!(format_gas(5 * GAS), "5");
    }

    #[test]
    fn a_request_costs_its_fee_and_chain_cost() {
        let s = MixerSettings::default();
        let c = check(&body(&["5", "5"]), &s, fee, 1_730_000_000_000).expect("present");
        assert_eq!(c.net, 10 * GAS);
        assert_eq!(c.service_fee, 5_000_000 + 5_000_000);
        assert_eq!(c.transfers, 2 + 1 + 2 + 3);
        assert_eq!(c.total, c.net + c.service_fee + 8 * s.transfer_allowance);
        assert_eq!(c.deposit_accounts, 1);
    }

    #[test]
    fn bad_requests_are_refused_with_their_codes() {
        use neosl_runtime::error::DomainError;
        let s = MixerSettings::default();
        let now = 1_730_000_000_000;
        let code = |b: MixRequestBody| check(&b, &s, fee, now).expect_err("refused").code();
        assert_eq!(code(body(&["10001"])), "request_over_limit");
        assert_eq!(code(body(&["9999.99"])), "request_over_limit");
        assert_eq!(code(body(&["0"])), "invalid_amount");
        assert_eq!(code(body(&["-3"])), "invalid_amount");
        assert_eq!(code(body(&[])), "invalid_targets");
        assert_eq!(code(body(&["1"; 17])), "invalid_targets");
        let mut b = body(&["1"]);
        b.mix_option = 60_000;
        assert_eq!(code(b), "invalid_mix_option");
        let mut b = body(&["1"]);
        b.timestamp += 3_600;
        assert_eq!(code(b), "invalid_timestamp");
        let mut b = body(&["1"]);
        b.timestamp = i64::MAX;
        assert_eq!(code(b), "invalid_timestamp");
        let mut b = body(&["1"]);
        b.user_address = "Nnot-an-address".into();
        assert_eq!(code(b), "invalid_address");
        let mut b = body(&["1"]);
        let mut a = target(1);
        let last = if a.ends_with('a') { "b" } else { "a" };
        a.replace_range(a.len() - 1.., last);
        b.targets[0].address = a;
        assert_eq!(code(b), "invalid_address");
        let mut b = body(&["1", "2"]);
        b.targets[1].address = b.targets[0].address.clone();
        assert_eq!(code(b), "invalid_targets");
        let mut b = body(&["1"]);
        b.targets[0].address = user();
        assert_eq!(code(b), "invalid_targets");
        let mut b = body(&["1"]);
        b.version = 2;
        assert_eq!(code(b), "unsupported_version");
        let mut b = body(&["1"]);
        b.input_txs = vec!["0x12".into()];
        assert_eq!(code(b), "invalid_input_txs");
    }
}
