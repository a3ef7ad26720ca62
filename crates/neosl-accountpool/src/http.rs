//! The AccountPool's HTTP API (internal: reachable by other services only, never through the
//! gateway). Every handler takes the verified [`Caller`]; a body `service_id` must match it in
//! strict mode.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use neosl_accountpool_api::*;
use neosl_runtime::ApiError;
use neosl_runtime::error::{ApiJson, ApiQuery};
use neosl_runtime::identity::Caller;

use crate::service::AccountPool;

type Pool = State<Arc<AccountPool>>;

/// The routes, to be wrapped by the runtime skeleton.
pub fn router(pool: Arc<AccountPool>) -> Router {
    Router::new()
        .route("/pool-info", get(pool_info))
        .route("/master-key", get(master_key))
        .route("/accounts", get(accounts))
        .route("/request", post(request))
        .route("/release", post(release))
        .route("/renew", post(renew))
        .route("/sign", post(sign))
        .route("/batch-sign", post(batch_sign))
        .route("/balance", post(balance))
        .route("/transfer", post(transfer))
        .with_state(pool)
}

async fn pool_info(State(pool): Pool, _caller: Caller) -> Result<ApiJson<PoolInfo>, ApiError> {
    Ok(ApiJson(pool.pool_info().await?))
}

async fn master_key(State(pool): Pool, _caller: Caller) -> ApiJson<MasterKeyInfo> {
    ApiJson(pool.master_key_info())
}

async fn accounts(
    State(pool): Pool,
    caller: Caller,
    ApiQuery(q): ApiQuery<AccountsQuery>,
) -> Result<ApiJson<AccountList>, ApiError> {
    let id = caller.check_claim(q.service_id.as_deref())?;
    Ok(ApiJson(
        pool.accounts(&id, q.token.as_deref(), q.min_balance.as_deref())
            .await?,
    ))
}

async fn request(
    State(pool): Pool,
    caller: Caller,
    ApiJson(r): ApiJson<RequestAccounts>,
) -> Result<ApiJson<LockGrant>, ApiError> {
    let id = caller.check_claim(r.service_id.as_deref())?;
    Ok(ApiJson(pool.request(&id, r.count, &r.purpose).await?))
}

async fn release(
    State(pool): Pool,
    caller: Caller,
    ApiJson(r): ApiJson<ReleaseAccounts>,
) -> Result<ApiJson<Released>, ApiError> {
    let id = caller.check_claim(r.service_id.as_deref())?;
    Ok(ApiJson(pool.release(&id, &r).await?))
}

async fn renew(
    State(pool): Pool,
    caller: Caller,
    ApiJson(r): ApiJson<RenewLock>,
) -> Result<ApiJson<LockGrant>, ApiError> {
    let id = caller.check_claim(r.service_id.as_deref())?;
    Ok(ApiJson(pool.renew(&id, &r).await?))
}

async fn sign(
    State(pool): Pool,
    caller: Caller,
    ApiJson(r): ApiJson<SignRequest>,
) -> Result<ApiJson<Signed>, ApiError> {
    let id = caller.check_claim(r.service_id.as_deref())?;
    Ok(ApiJson(pool.sign(&id, &r.account_id, &r.tx_hash).await?))
}

async fn batch_sign(
    State(pool): Pool,
    caller: Caller,
    ApiJson(r): ApiJson<BatchSignRequest>,
) -> Result<ApiJson<BatchSigned>, ApiError> {
    let id = caller.check_claim(r.service_id.as_deref())?;
    Ok(ApiJson(pool.batch_sign(&id, &r.requests).await?))
}

async fn balance(
    State(pool): Pool,
    caller: Caller,
    ApiJson(r): ApiJson<BalanceUpdate>,
) -> Result<ApiJson<BalanceView>, ApiError> {
    let id = caller.check_claim(r.service_id.as_deref())?;
    Ok(ApiJson(pool.update_balance(&id, &r).await?))
}

async fn transfer(
    State(pool): Pool,
    caller: Caller,
    ApiJson(r): ApiJson<TransferRequest>,
) -> Result<ApiJson<TransferResult>, ApiError> {
    let id = caller.check_claim(r.service_id.as_deref())?;
    Ok(ApiJson(pool.transfer(&id, &r).await?))
}

/// The service called directly by a trusted in-process caller: the same trait as
/// [`AccountPoolClient`].
pub struct LocalAccountPool {
    pool: Arc<AccountPool>,
    caller: String,
}

impl LocalAccountPool {
    /// `caller` acting on `pool`.
    pub fn new(pool: Arc<AccountPool>, caller: impl Into<String>) -> Self {
        Self {
            pool,
            caller: caller.into(),
        }
    }

    fn caller_for(&self, claimed: Option<&str>) -> PoolResult<&str> {
        match claimed {
            Some(c) if c != self.caller => Err(PoolError::new(
                "identity_mismatch",
                403,
                "service_id does not match the caller",
            )),
            _ => Ok(&self.caller),
        }
    }
}

#[async_trait]
impl AccountPoolApi for LocalAccountPool {
    async fn request_accounts(&self, r: RequestAccounts) -> PoolResult<LockGrant> {
        let caller = self.caller_for(r.service_id.as_deref())?;
        Ok(self.pool.request(caller, r.count, &r.purpose).await?)
    }
    async fn release_accounts(&self, r: ReleaseAccounts) -> PoolResult<Released> {
        let caller = self.caller_for(r.service_id.as_deref())?;
        Ok(self.pool.release(caller, &r).await?)
    }
    async fn renew_lock(&self, r: RenewLock) -> PoolResult<LockGrant> {
        let caller = self.caller_for(r.service_id.as_deref())?;
        Ok(self.pool.renew(caller, &r).await?)
    }
    async fn sign(&self, r: SignRequest) -> PoolResult<Signed> {
        let caller = self.caller_for(r.service_id.as_deref())?;
        Ok(self.pool.sign(caller, &r.account_id, &r.tx_hash).await?)
    }
    async fn batch_sign(&self, r: BatchSignRequest) -> PoolResult<BatchSigned> {
        let caller = self.caller_for(r.service_id.as_deref())?;
        Ok(self.pool.batch_sign(caller, &r.requests).await?)
    }
    async fn update_balance(&self, r: BalanceUpdate) -> PoolResult<BalanceView> {
        let caller = self.caller_for(r.service_id.as_deref())?;
        Ok(self.pool.update_balance(caller, &r).await?)
    }
    async fn transfer(&self, r: TransferRequest) -> PoolResult<TransferResult> {
        let caller = self.caller_for(r.service_id.as_deref())?;
        Ok(self.pool.transfer(caller, &r).await?)
    }
    async fn accounts(&self, q: AccountsQuery) -> PoolResult<AccountList> {
        let caller = self.caller_for(q.service_id.as_deref())?;
        Ok(self
            .pool
            .accounts(caller, q.token.as_deref(), q.min_balance.as_deref())
            .await?)
    }
}
