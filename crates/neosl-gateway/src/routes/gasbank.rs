//! The caller's GasBank: balance, ledger, fees, sponsorship, deposits and withdrawals.

use std::collections::BTreeMap;

use axum::extract::State;
use neosl_gasbank::withdrawals::Withdrawal;
use neosl_gasbank::{AccountState, LedgerEntry, Owner};
use neosl_neo::{Address, UInt160};
use neosl_runtime::error::{ApiJson, ApiQuery};
use neosl_runtime::service::FeeRule;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::{Answer, Gw, ok};
use crate::error::GatewayError;
use crate::principal::Principal;

pub(crate) async fn balance(State(gw): Gw, p: Principal) -> Answer<AccountState> {
    ok(&gw, gw.bank.account(&Owner::User(p.user_id)).await?)
}

#[derive(Deserialize)]
pub(crate) struct Limit {
    limit: Option<i64>,
}

/// The caller's ledger, newest first.
#[derive(Debug, Serialize)]
pub struct Transactions {
    transactions: Vec<LedgerEntry>,
}

pub(crate) async fn transactions(
    State(gw): Gw,
    p: Principal,
    ApiQuery(q): ApiQuery<Limit>,
) -> Answer<Transactions> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(GatewayError::InvalidLimit.into());
    }
    let transactions = gw.bank.transactions(&Owner::User(p.user_id), limit).await?;
    ok(&gw, Transactions { transactions })
}

/// An amount in 10⁻⁸ GAS, as a decimal string or an integer.
#[derive(Debug)]
pub(crate) struct Units(i64);

impl<'de> Deserialize<'de> for Units {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let n = match &v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            _ => None,
        };
        n.filter(|n| *n > 0)
            .map(Units)
            .ok_or_else(|| serde::de::Error::custom("amount is a positive integer in 10^-8 GAS"))
    }
}

/// A sponsorship's two ledger rows.
#[derive(Debug, Serialize)]
pub struct Sponsorship {
    debit: LedgerEntry,
    credit: LedgerEntry,
}

#[derive(Deserialize)]
pub(crate) struct PayContract {
    contract: String,
    amount: Units,
    reference: String,
}

pub(crate) async fn pay_contract(
    State(gw): Gw,
    p: Principal,
    ApiJson(r): ApiJson<PayContract>,
) -> Answer<Sponsorship> {
    gw.limit(&p.bucket("money"), gw.config.limits.money).await?;
    let contract = UInt160::parse_display(&r.contract)
        .map_err(|e| GatewayError::InvalidContract(e.to_string()))?;
    let reference = format!("{}:{}", p.user_id, r.reference);
    let (debit, credit) = gw
        .bank
        .sponsor(
            &Owner::User(p.user_id),
            &Owner::Contract(contract.to_string()),
            r.amount.0,
            &reference,
        )
        .await?;
    ok(&gw, Sponsorship { debit, credit })
}

#[derive(Deserialize)]
pub(crate) struct PayUser {
    user_id: String,
    amount: Units,
    reference: String,
}

pub(crate) async fn pay_user(
    State(gw): Gw,
    p: Principal,
    ApiJson(r): ApiJson<PayUser>,
) -> Answer<Sponsorship> {
    gw.limit(&p.bucket("money"), gw.config.limits.money).await?;
    gw.existing_user(&r.user_id).await?;
    let reference = format!("{}:{}", p.user_id, r.reference);
    let (debit, credit) = gw
        .bank
        .sponsor(
            &Owner::User(p.user_id),
            &Owner::User(r.user_id),
            r.amount.0,
            &reference,
        )
        .await?;
    ok(&gw, Sponsorship { debit, credit })
}

/// The fee schedule: each fee's base amount, and the full rules.
#[derive(Debug, Serialize)]
pub struct Fees {
    unit: &'static str,
    schedule: BTreeMap<&'static str, i64>,
    rules: Vec<FeeRule>,
}

pub(crate) async fn fees(State(gw): Gw) -> Answer<Fees> {
    ok(
        &gw,
        Fees {
            unit: "1e-8 GAS",
            schedule: gw.fees.rules().map(|r| (r.name, r.base)).collect(),
            rules: gw.fees.rules().copied().collect(),
        },
    )
}

/// Where the caller sends GAS to fund their account.
#[derive(Debug, Serialize)]
pub struct DepositAddress {
    address: String,
    script_hash: String,
    note: &'static str,
}

pub(crate) async fn deposit_address(State(gw): Gw, p: Principal) -> Answer<DepositAddress> {
    let deposits = gw
        .deposits
        .as_ref()
        .ok_or(GatewayError::DepositsUnavailable)?;
    if gw.chain.is_none() {
        // An address nothing watches would swallow a user's GAS: say so instead.
        return Err(GatewayError::ChainUnavailable(
            "deposits are not watched: this gateway has no chain configured (NEOSL_CHAIN_RPC)"
                .into(),
        )
        .into());
    }
    let address = deposits.deposit_address(&p.user_id).await?;
    ok(
        &gw,
        DepositAddress {
            address: address.to_string(),
            script_hash: address.script_hash().to_string(),
            note: "send GAS to this address; each confirmed transfer is credited once",
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct WithdrawRequest {
    to_address: String,
    amount: Units,
    reference: String,
    #[serde(default)]
    wait: bool,
}

pub(crate) async fn withdraw(
    State(gw): Gw,
    p: Principal,
    ApiJson(r): ApiJson<WithdrawRequest>,
) -> Answer<Withdrawal> {
    gw.limit(&p.bucket("money"), gw.config.limits.money).await?;
    let withdrawals = gw
        .withdrawals
        .as_ref()
        .ok_or_else(|| GatewayError::ChainUnavailable("withdrawals need the chain".into()))?;
    let to =
        Address::parse(&r.to_address).map_err(|e| GatewayError::InvalidAddress(e.to_string()))?;
    let record = withdrawals
        .withdraw(&p.user_id, &to, r.amount.0, &r.reference, r.wait)
        .await?;
    ok(&gw, record)
}
