//! What a service is: one declaration, in the service's own crate, that the platform reads.
//!
//! A service implements [`Service`]: its name, default address, reach, the secrets it reads, its
//! settings section and environment variables, the routes it offers through the gateway and who
//! may call each, the fees it charges, the keys it publishes, and how it starts (given a
//! [`ServiceContext`]: database, chain, secrets, the other services, clock, shutdown) into
//! [`Started`]: a router, background jobs and readiness checks. The binary's [`Registry`] is the
//! list of services; serving, `neosl secrets`, the manifest check, the gateway's routing and
//! settings validation all read it, so adding a service is one crate and one line.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::http::Method;
use neosl_chain::RpcClient;
use neosl_chain::submit::Submitter;
use tokio::sync::watch;

use crate::RuntimeMode;
use crate::attestation::PublishedKey;
use crate::client::ServiceTransport;
use crate::clock::SharedClock;
use crate::config::{FeeSetting, Settings};
use crate::db::Database;
use crate::secrets::{SecretSource, SecretSpec, SecretStore};
use crate::server::Readiness;

/// Who may reach a service's own listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Anyone: it faces users directly (the gateway).
    Public,
    /// Other services only, with a verified identity; users reach the routes it offers through
    /// the gateway ([`Service::public_routes`]), never its listener.
    Internal,
}

/// Who may call a route the gateway offers for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (public keys, verification).
    Anyone,
    /// A signed-in user, named to the service in `X-User-ID`.
    User,
    /// A signed-in user who pays the named fee: reserved before the call, consumed when the
    /// service answers 2xx, released otherwise.
    Paid(&'static str),
}

/// A route the gateway forwards to a public service, as the gateway registers it (axum path
/// syntax: `/vrf/requests/{id}`).
#[derive(Debug, Clone)]
pub struct PublicRoute {
    /// The method.
    pub method: Method,
    /// The path.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Top-level body fields that are text and may hold line breaks and tabs
    /// ([`crate::error::TextFields`]).
    pub text_fields: &'static [&'static str],
}

impl PublicRoute {
    /// A route.
    pub const fn new(method: Method, path: &'static str, access: Access) -> Self {
        Self {
            method,
            path,
            access,
            text_fields: &[],
        }
    }

    /// The same route whose body has text fields.
    pub const fn with_text_fields(mut self, fields: &'static [&'static str]) -> Self {
        self.text_fields = fields;
        self
    }
}

/// A fee a service charges, in 10⁻⁸ GAS: `base` plus `basis_points` (1/100 %) of the call's
/// amount, rounded up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FeeRule {
    /// The fee's name (settings `[fees]`, the ledger's counterparty).
    pub name: &'static str,
    /// The base fee.
    pub base: i64,
    /// The share of the amount, in basis points.
    pub basis_points: i64,
}

impl FeeRule {
    /// A flat fee.
    pub const fn flat(name: &'static str, base: i64) -> Self {
        Self {
            name,
            base,
            basis_points: 0,
        }
    }

    /// The fee of a call moving `amount`; `None` when it would overflow.
    pub fn fee(&self, amount: i64) -> Option<i64> {
        // Round the share up: the platform never undercharges by truncation.
        let share = (i128::from(amount.max(0)) * i128::from(self.basis_points) + 9_999) / 10_000;
        i64::try_from(i128::from(self.base) + share).ok()
    }
}

/// Every fee of the deployed services, with the settings' overrides applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FeeSchedule {
    rules: BTreeMap<String, FeeRule>,
}

impl FeeSchedule {
    /// The declared `rules`, overridden by `overrides` (unknown names and impossible values
    /// are refused, so a typo cannot silently leave a default in place).
    pub fn new<'a>(
        rules: impl IntoIterator<Item = &'a FeeRule>,
        overrides: &BTreeMap<String, FeeSetting>,
    ) -> Result<Self, String> {
        let mut schedule: BTreeMap<String, FeeRule> =
            rules.into_iter().map(|r| (r.name.to_owned(), *r)).collect();
        for (name, setting) in overrides {
            let known = schedule.keys().cloned().collect::<Vec<_>>().join(", ");
            let rule = schedule
                .get_mut(name)
                .ok_or_else(|| format!("fees: unknown fee {name:?} (fees: {known})"))?;
            let (base, basis_points) = match *setting {
                FeeSetting::Flat(base) => (base, rule.basis_points),
                FeeSetting::Rule { base, basis_points } => (base, basis_points),
            };
            if base < 0 {
                return Err(format!("fees.{name}: must not be negative"));
            }
            if !(0..=10_000).contains(&basis_points) {
                return Err(format!("fees.{name}: basis_points is 0 to 10000 (100 %)"));
            }
            rule.base = base;
            rule.basis_points = basis_points;
        }
        Ok(Self { rules: schedule })
    }

    /// The rule called `name`.
    pub fn rule(&self, name: &str) -> Option<&FeeRule> {
        self.rules.get(name)
    }

    /// The fee `name` for a call moving `amount`; `None` for an unknown fee or an overflow.
    pub fn fee(&self, name: &str, amount: i64) -> Option<i64> {
        self.rule(name)?.fee(amount)
    }

    /// Every rule, by name.
    pub fn rules(&self) -> impl Iterator<Item = &FeeRule> {
        self.rules.values()
    }
}

/// An environment variable a service reads into a key of its settings section.
#[derive(Debug, Clone, Copy)]
pub struct EnvSetting {
    /// The variable (`NEOSL_POOL_TARGET_SIZE`).
    pub var: &'static str,
    /// The key of the service's section (`target_size`).
    pub key: &'static str,
}

/// The chain, when one is configured and answers.
#[derive(Clone)]
pub struct Chain {
    /// JSON-RPC.
    pub rpc: RpcClient,
    /// Transaction submission.
    pub submitter: Submitter,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("network", &self.submitter.network())
            .finish_non_exhaustive()
    }
}

/// Another service of the registry, as a service sees it: its declaration and, when it can be
/// reached from here, the way to it.
#[derive(Clone)]
pub struct Peer {
    /// The service.
    pub service: Arc<dyn Service>,
    /// In-process or over mutual TLS; `None` when it runs elsewhere with no URL configured.
    pub transport: Option<ServiceTransport>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.service.name())
            .field("transport", &self.transport)
            .finish()
    }
}

/// What a service is given to start.
#[derive(Clone)]
pub struct ServiceContext {
    /// The platform's settings (the service reads its own section).
    pub settings: Arc<Settings>,
    /// The injected secrets.
    pub secrets: Arc<SecretStore>,
    /// Enclave or simulation.
    pub mode: RuntimeMode,
    /// The platform database.
    pub database: Database,
    /// The chain, when configured and reachable.
    pub chain: Option<Chain>,
    /// The other services of the registry (those started earlier are reachable in-process).
    pub peers: Vec<Peer>,
    /// Services that the platform plans but this build does not have (their gateway prefixes
    /// say so).
    pub planned: Vec<&'static str>,
    /// Every fee of the registry, with the settings' overrides.
    pub fees: Arc<FeeSchedule>,
    /// The time.
    pub clock: SharedClock,
    /// Turns true when the platform stops; jobs end then.
    pub shutdown: watch::Receiver<bool>,
}

impl ServiceContext {
    /// The peer called `name`.
    pub fn peer(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.service.name() == name)
    }

    /// How long a claim on chain work lasts (the outbox's lease).
    pub fn chain_work_lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.settings.chain_work_lease_secs.max(1))
    }

    /// The network magic transactions are signed for: the chain's, else the configured one.
    pub fn network_magic(&self) -> Option<u32> {
        self.chain
            .as_ref()
            .map(|c| c.submitter.network())
            .or(self.settings.network_magic)
    }
}

/// Background work a service runs until shutdown.
pub type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Waits `interval` between two rounds of a job; `true` when the job must end instead
/// (shutdown, or the platform that would signal it is gone).
pub async fn pause(interval: std::time::Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(interval) => *shutdown.borrow(),
        changed = shutdown.changed() => changed.is_err() || *shutdown.borrow(),
    }
}

/// Builds a job's future for the signal that stops it.
pub type JobFactory = Box<dyn Fn(watch::Receiver<bool>) -> Job + Send + Sync>;

/// A started service: its routes (wrapped by the runtime skeleton), its jobs and its own
/// readiness checks (the platform adds the database, the chain and the secrets).
pub struct Started {
    /// The routes.
    pub router: Router,
    /// Background jobs, each ending when the context's shutdown turns true.
    pub jobs: Vec<(&'static str, Job)>,
    /// Jobs that run on one replica at a time ([`crate::singleton`]): each built for the
    /// replica that holds its lease, and stopped through the receiver it is given.
    pub singletons: Vec<(&'static str, JobFactory)>,
    /// Checks behind `/ready`.
    pub readiness: Vec<Arc<dyn Readiness>>,
}

impl Started {
    /// A service with routes only.
    pub fn new(router: Router) -> Self {
        Self {
            router,
            jobs: Vec::new(),
            singletons: Vec::new(),
            readiness: Vec::new(),
        }
    }

    /// Adds a job that runs on one replica at a time: `make` builds it with the signal that
    /// stops it (the lease lost, or shutdown).
    pub fn singleton(
        mut self,
        name: &'static str,
        make: impl Fn(watch::Receiver<bool>) -> Job + Send + Sync + 'static,
    ) -> Self {
        self.singletons.push((name, Box::new(make)));
        self
    }

    /// Adds a background job.
    pub fn job(
        mut self,
        name: &'static str,
        job: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.jobs.push((name, Box::pin(job)));
        self
    }

    /// Adds a readiness check.
    pub fn readiness(mut self, check: Arc<dyn Readiness>) -> Self {
        self.readiness.push(check);
        self
    }
}

/// How a service serves requests from contracts through the `ServiceLayerGateway`.
#[derive(Debug, Clone, Copy)]
pub struct OnChain {
    /// The id the gateway contract knows the service by (`vrf`).
    pub service_id: &'static str,
    /// The event its contract emits for each request (first argument the request id), when
    /// the service needs what it carries.
    pub request_event: Option<&'static str>,
    /// The internal route the on-chain worker posts each request to
    /// ([`neosl_api::onchain::FulfilRequest`]).
    pub fulfil_path: &'static str,
    /// The internal route the on-chain worker asks, each round, for the calls the service
    /// wants made on its contract (sent from the worker's TEE account), if it pushes
    /// ([`neosl_api::onchain::PushRequest`]).
    pub push_path: Option<&'static str>,
    /// The fee charged to the requesting contract's GasBank account.
    pub fee: &'static str,
    /// The purpose of the published key whose signatures the gateway checks.
    pub tee_key: &'static str,
}

/// What a service is, as constants: everything the platform needs before it starts it.
#[derive(Debug, Clone, Copy)]
pub struct Declaration {
    /// Its name: certificate name, settings section, URL prefix through the gateway.
    pub name: &'static str,
    /// Where it listens unless told otherwise.
    pub default_listen: &'static str,
    /// Public (it faces users) or internal.
    pub reach: Reach,
    /// The secrets it reads (what the MarbleRun manifest injects into its marble).
    pub secrets: &'static [SecretSpec],
    /// The secret that guards its operator endpoints and `/metrics`, if any.
    pub operator_token: Option<&'static str>,
    /// Environment variables it reads into its settings section.
    pub env_settings: &'static [EnvSetting],
    /// The routes the gateway offers for it, and who may call each.
    pub public_routes: &'static [PublicRoute],
    /// The fees it charges.
    pub fees: &'static [FeeRule],
    /// How it serves contracts, if it does.
    pub on_chain: Option<OnChain>,
}

impl Declaration {
    /// An internal service with nothing but a name and an address (the rest filled in with
    /// struct update syntax).
    pub const fn new(name: &'static str, default_listen: &'static str) -> Self {
        Self {
            name,
            default_listen,
            reach: Reach::Internal,
            secrets: &[],
            operator_token: None,
            env_settings: &[],
            public_routes: &[],
            fees: &[],
            on_chain: None,
        }
    }
}

/// One service, declared once: its [`Declaration`], how it checks its settings, the keys it
/// publishes, and how it starts.
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// The service's constants.
    fn declaration(&self) -> &'static Declaration;

    /// Checks its settings section (and anything else of the settings it reads).
    fn check_settings(&self, settings: &Settings) -> Result<(), String> {
        let _ = settings;
        Ok(())
    }

    /// The keys it signs with, published in `/attestation` (derived from its secrets only).
    fn published_keys(&self, secrets: &SecretStore) -> anyhow::Result<Vec<PublishedKey>> {
        let _ = secrets;
        Ok(Vec::new())
    }

    /// Prepares its state and answers its routes, jobs and readiness checks.
    async fn start(&self, context: ServiceContext) -> anyhow::Result<Started>;

    /// Its name.
    fn name(&self) -> &'static str {
        self.declaration().name
    }

    /// Public or internal.
    fn reach(&self) -> Reach {
        self.declaration().reach
    }

    /// The secrets it reads.
    fn secrets(&self) -> &'static [SecretSpec] {
        self.declaration().secrets
    }

    /// The routes the gateway offers for it.
    fn public_routes(&self) -> &'static [PublicRoute] {
        self.declaration().public_routes
    }

    /// The fees it charges.
    fn fees(&self) -> &'static [FeeRule] {
        self.declaration().fees
    }
}

/// The services of a build, in start-up order (those that others call first), and the names of
/// the services planned but not built yet.
#[derive(Clone)]
pub struct Registry {
    services: Vec<Arc<dyn Service>>,
    planned: Vec<&'static str>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("services", &self.names())
            .field("planned", &self.planned)
            .finish()
    }
}

impl Registry {
    /// A registry; names must be unique.
    pub fn new(services: Vec<Arc<dyn Service>>, planned: Vec<&'static str>) -> Self {
        Self { services, planned }
    }

    /// Adds `service` before the service called `before` (or at the end).
    pub fn insert_before(&mut self, before: &str, service: Arc<dyn Service>) {
        let at = self
            .services
            .iter()
            .position(|s| s.name() == before)
            .unwrap_or(self.services.len());
        self.planned.retain(|p| *p != service.name());
        self.services.insert(at, service);
    }

    /// Every service, in start-up order.
    pub fn services(&self) -> &[Arc<dyn Service>] {
        &self.services
    }

    /// Their names.
    pub fn names(&self) -> Vec<&'static str> {
        self.services.iter().map(|s| s.name()).collect()
    }

    /// Planned services this build does not have.
    pub fn planned(&self) -> &[&'static str] {
        &self.planned
    }

    /// The service called `name`.
    pub fn find(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.services.iter().find(|s| s.name() == name)
    }

    /// Every secret any service reads.
    pub fn secrets(&self) -> Vec<SecretSpec> {
        let mut all: Vec<SecretSpec> = Vec::new();
        for spec in self.services.iter().flat_map(|s| s.secrets()) {
            if !all.iter().any(|s| s.name == spec.name) {
                all.push(*spec);
            }
        }
        all
    }

    /// Every fee, with the settings' overrides.
    pub fn fee_schedule(&self, settings: &Settings) -> Result<FeeSchedule, String> {
        FeeSchedule::new(self.services.iter().flat_map(|s| s.fees()), &settings.fees)
    }

    /// Loads the settings (defaults < file < environment), applies each service's declared
    /// environment variables, and checks them all.
    pub fn load_settings(
        &self,
        file: Option<&std::path::Path>,
        env: &dyn SecretSource,
    ) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(file, env, &self.names())?;
        for service in &self.services {
            for declared in service.declaration().env_settings {
                if let Some(value) = env.var(declared.var) {
                    settings.set_from_env(service.name(), declared.key, &value);
                }
            }
        }
        self.check_settings(&settings)
            .map_err(|e| anyhow::anyhow!("settings: {e}"))?;
        Ok(settings)
    }

    /// Refuses a section no service owns, and anything a service refuses in its own.
    pub fn check_settings(&self, settings: &Settings) -> Result<(), String> {
        for name in settings.sections.keys() {
            if self.find(name).is_none() {
                return Err(format!(
                    "unknown setting or section [{name}] (services: {})",
                    self.names().join(", ")
                ));
            }
        }
        for name in settings.services.keys() {
            if self.find(name).is_none() {
                return Err(format!("[services.{name}]: no such service"));
            }
        }
        for service in &self.services {
            service.check_settings(settings)?;
        }
        self.fee_schedule(settings).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_up_refuse_overflow_and_take_overrides() {
        let mixer = FeeRule {
            name: "mixer",
            base: 5_000_000,
            basis_points: 50,
        };
        // 0.05 GAS + 0.5 % of 10 GAS = 0.05 + 0.05 GAS.
        assert_eq!(mixer.fee(1_000_000_000), Some(10_000_000));
        assert_eq!(mixer.fee(1), Some(5_000_001), "rounded up");
        assert!(mixer.fee(i64::MAX).is_some_and(|fee| fee > i64::MAX / 200));
        let all = FeeRule {
            basis_points: 10_000,
            ..mixer
        };
        assert_eq!(all.fee(i64::MAX), None, "overflow is refused, not wrapped");

        let vrf = FeeRule::flat("vrf", 100_000);
        let rules = [vrf, mixer];
        let none = BTreeMap::new();
        let schedule = FeeSchedule::new(&rules, &none).expect("valid");
        assert_eq!(schedule.fee("vrf", 0), Some(100_000));
        assert_eq!(schedule.fee("nope", 0), None);
        let set = |k: &str, v: FeeSetting| BTreeMap::from([(k.to_owned(), v)]);
        let cheaper = FeeSchedule::new(&rules, &set("vrf", FeeSetting::Flat(250_000))).expect("ok");
        assert_eq!(cheaper.fee("vrf", 0), Some(250_000));
        for bad in [
            set("vrff", FeeSetting::Flat(1)),
            set("vrf", FeeSetting::Flat(-1)),
            set(
                "mixer",
                FeeSetting::Rule {
                    base: 1,
                    basis_points: 10_001,
                },
            ),
        ] {
            assert!(FeeSchedule::new(&rules, &bad).is_err(), "{bad:?}");
        }
    }
}
