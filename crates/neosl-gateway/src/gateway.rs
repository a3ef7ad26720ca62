//! The gateway's state: its store, the GasBank, keys, limits, and the services it routes to.

use std::sync::Arc;

use neosl_crypto::SecretBytes;
use neosl_gasbank::GasBank;
use neosl_gasbank::deposits::Deposits;
use neosl_gasbank::withdrawals::Withdrawals;
use neosl_runtime::Service;
use neosl_runtime::client::ServiceTransport;
use neosl_runtime::clock::{self, SharedClock};
use neosl_runtime::service::{FeeSchedule, PublicRoute};

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::guard::{Client, GATEWAY_AREAS, PasswordGate};
use crate::limit::Rate;
use crate::store::GatewayStore;

/// A public service the gateway offers routes for.
#[derive(Debug, Clone)]
pub struct RoutedService {
    /// Its name (its routes' prefix and scope area).
    pub name: &'static str,
    /// Its routes and who may call each.
    pub routes: &'static [PublicRoute],
    /// The way to it; `None` when it runs elsewhere and no URL is configured (its routes then
    /// answer `503 service_unavailable`).
    pub transport: Option<ServiceTransport>,
}

/// The gateway's state.
pub struct Gateway {
    pub(crate) store: GatewayStore,
    pub(crate) bank: GasBank,
    pub(crate) jwt_key: SecretBytes,
    pub(crate) config: GatewayConfig,
    pub(crate) buckets: crate::buckets::Buckets,
    pub(crate) passwords: PasswordGate,
    pub(crate) clock: SharedClock,
    pub(crate) fees: FeeSchedule,
    pub(crate) deposits: Option<Deposits>,
    pub(crate) withdrawals: Option<Withdrawals>,
    pub(crate) chain: Option<neosl_chain::RpcClient>,
    pub(crate) admin_token_hash: Option<[u8; 32]>,
    pub(crate) services: Vec<RoutedService>,
    pub(crate) planned: Vec<String>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("config", &self.config)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway over its store and the GasBank, signing tokens with `jwt_key` (≥ 32 bytes).
    pub fn new(
        store: GatewayStore,
        bank: GasBank,
        jwt_key: SecretBytes,
        config: GatewayConfig,
    ) -> Self {
        Self {
            store,
            bank: bank.with_reservation_ttl(config.reservation_ttl),
            jwt_key,
            passwords: PasswordGate::new(
                config.password_hash_concurrency,
                config.password_hash_queue,
            ),
            config,
            buckets: crate::buckets::Buckets::default(),
            clock: clock::system(),
            fees: FeeSchedule::default(),
            deposits: None,
            withdrawals: None,
            chain: None,
            admin_token_hash: None,
            services: Vec::new(),
            planned: Vec::new(),
        }
    }

    /// Reads the time from `clock` (token expiry, rate limits, reservations).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.bank = self.bank.with_clock(clock.clone());
        self.clock = clock;
        self
    }

    /// Enables the operator endpoints, authorized by `X-Admin-Token`: `hash` is the SHA-256 of
    /// the injected secret `GATEWAY_ADMIN_TOKEN` (the token itself is never kept).
    pub fn with_admin_token_hash(mut self, hash: [u8; 32]) -> Self {
        self.admin_token_hash = Some(hash);
        self
    }

    /// The chain, for checking deposits an operator credits by hand.
    pub fn with_chain(mut self, rpc: neosl_chain::RpcClient) -> Self {
        self.chain = Some(rpc);
        self
    }

    /// Enables deposit addresses (they need the GasBank master key).
    pub fn with_deposits(mut self, deposits: Deposits) -> Self {
        self.deposits = Some(deposits);
        self
    }

    /// Enables withdrawals (they need the chain).
    pub fn with_withdrawals(mut self, withdrawals: Withdrawals) -> Self {
        self.withdrawals = Some(withdrawals);
        self
    }

    /// Charges `fees` (every fee of the platform, with the settings' overrides).
    pub fn with_fees(mut self, fees: FeeSchedule) -> Self {
        self.fees = fees;
        self
    }

    /// Offers `service`'s public routes, reached through `transport`; its fees are charged at
    /// their declared amounts unless [`Gateway::with_fees`] says otherwise.
    pub fn with_service(
        mut self,
        service: &dyn Service,
        transport: Option<ServiceTransport>,
    ) -> Self {
        let mut rules: Vec<_> = self.fees.rules().copied().collect();
        for rule in service.fees() {
            if !rules.iter().any(|r| r.name == rule.name) {
                rules.push(*rule);
            }
        }
        self.fees = FeeSchedule::new(&rules, &Default::default()).unwrap_or(self.fees);
        self.services.push(RoutedService {
            name: service.name(),
            routes: service.public_routes(),
            transport,
        });
        self
    }

    /// Names planned services this build does not run: their prefixes answer
    /// `503 service_not_deployed`.
    pub fn with_planned(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.planned = names.into_iter().map(Into::into).collect();
        self
    }

    /// The areas an API key can be scoped to.
    pub fn scope_areas(&self) -> Vec<String> {
        GATEWAY_AREAS
            .iter()
            .copied()
            .chain(self.services.iter().map(|s| s.name))
            .map(str::to_owned)
            .chain(self.planned.iter().cloned())
            .collect()
    }

    /// The time now, Unix ms.
    pub(crate) fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    pub(crate) async fn limit(&self, key: &str, rate: Rate) -> Result<(), neosl_runtime::ApiError> {
        self.buckets
            .check_at(key, rate, self.now())
            .await
            .map_err(neosl_runtime::ApiError::rate_limited)
    }

    /// Keeps rate-limit buckets in `buckets` (shared by every replica, or this process's).
    pub fn with_buckets(mut self, buckets: crate::buckets::Buckets) -> Self {
        self.buckets = buckets;
        self
    }

    /// Charges the client's authentication bucket (every sign-in request, whatever identity).
    pub(crate) async fn limit_auth_client(
        &self,
        client: &Client,
    ) -> Result<(), neosl_runtime::ApiError> {
        self.limit(
            &format!("auth-client:{}", client.key()),
            self.config.limits.auth_client,
        )
        .await
    }

    /// The failure bucket of `identity` from `client`: refused before any check once a client
    /// has failed too often for that identity; other clients are not affected.
    pub(crate) fn failures_key(identity: &str, client: &Client) -> String {
        format!("auth-fail:{identity}:{}", client.key())
    }

    pub(crate) async fn check_failures(&self, key: &str) -> Result<(), neosl_runtime::ApiError> {
        self.buckets
            .peek_at(key, self.config.limits.auth, self.now())
            .await
            .map_err(neosl_runtime::ApiError::rate_limited)
    }

    pub(crate) async fn record_failure(&self, key: &str) {
        let _ = self
            .buckets
            .check_at(key, self.config.limits.auth, self.now())
            .await;
    }

    /// The user `id`, which must exist.
    pub(crate) async fn existing_user(&self, id: &str) -> Result<(), neosl_runtime::ApiError> {
        match self.store.user_by_id(id).await? {
            Some(_) => Ok(()),
            None => Err(GatewayError::UnknownUser.into()),
        }
    }
}

/// The gateway shared by its handlers.
pub type SharedGateway = Arc<Gateway>;
