//! Running the services of a [`Registry`]: every one in this process (the embedded default), or
//! one alone as one MarbleRun marble runs it. `neosl serve` is this plus a signal handler;
//! tests start a registry of their own the same way.
//!
//! For each selected service, in the registry's order: its certificate (MarbleRun's, or the
//! one `--tls-dir` holds), whether it gets a listener (an internal service only with mutual
//! TLS, or under the loud development flag), its context (the one database, the chain, its
//! secrets, the other services: in-process when started earlier here, else by URL over mutual
//! TLS), its start, the runtime skeleton around its routes with the platform's readiness
//! checks, its jobs, and its listener. A refusal happens before anything starts.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use axum::Router;
use neosl_chain::RpcClient;
use neosl_chain::rpc::RpcConfig;
use neosl_chain::submit::{SubmitConfig, Submitter};
use neosl_runtime::client::ServiceTransport;
use neosl_runtime::clock::SharedClock;
use neosl_runtime::config::Settings;
use neosl_runtime::db::{Database, DatabaseReadiness};
use neosl_runtime::readiness::{ChainReadiness, SecretsReadiness};
use neosl_runtime::secrets::{EnvSource, SecretStore};
use neosl_runtime::server::{self, EdgePolicy, Limits, Readiness, ServiceInfo};
use neosl_runtime::service::{Chain, Peer, Reach, ServiceContext};
use neosl_runtime::tls::TlsMaterial;
use neosl_runtime::{Registry, RuntimeMode, Service};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How to run a registry.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only this service (as one marble would).
    pub service: Option<String>,
    /// Where the service alone (or, with every service, the gateway) listens.
    pub listen: Option<SocketAddr>,
    /// With every service in one process, give the internal ones listeners too.
    pub expose_internal: bool,
    /// DEVELOPMENT ONLY: internal listeners without mutual TLS, callers named by header.
    pub insecure_dev_identity: bool,
    /// The time every service reads.
    pub clock: SharedClock,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            service: None,
            listen: None,
            expose_internal: false,
            insecure_dev_identity: false,
            clock: neosl_runtime::clock::system(),
        }
    }
}

/// One service as it runs.
#[derive(Debug, Clone)]
pub struct Running {
    /// Its name.
    pub name: &'static str,
    /// Its address, when it has a listener.
    pub url: Option<String>,
    /// How it is reached, in words.
    pub note: String,
}

/// Started services; [`Platform::stop`] ends them gracefully.
pub struct Platform {
    services: Vec<Running>,
    routers: Vec<(&'static str, Router)>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    jobs: Vec<(&'static str, JoinHandle<()>)>,
    notices: Vec<String>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Starts the selected services of `registry` with `settings`.
    pub async fn start(registry: &Registry, settings: Settings, options: Options) -> Result<Self> {
        let settings = Arc::new(settings);
        let mode = RuntimeMode::resolve(settings.mode);
        let selected: Vec<Arc<dyn Service>> = match &options.service {
            Some(name) => vec![registry.find(name).cloned().with_context(|| {
                format!(
                    "unknown service {name:?}; known: {}",
                    registry.names().join(", ")
                )
            })?],
            None => registry.services().to_vec(),
        };
        owner_only_dir(&settings.data_dir)?;
        let mut notices = Vec::new();
        if options.insecure_dev_identity {
            if mode == RuntimeMode::Enclave {
                bail!("--insecure-dev-identity is for development: refused in enclave mode");
            }
            notices.push("WARNING: --insecure-dev-identity: internal services without mutual TLS trust the X-Service-ID header; ANY local process can act as any service (sign with pool accounts, use VRF for free). Development only.".to_owned());
            tracing::warn!(
                "insecure development identity: internal services trust X-Service-ID without certificates"
            );
        }
        let specs: Vec<_> = selected
            .iter()
            .flat_map(|s| s.secrets().iter().copied())
            .collect();
        let secrets = Arc::new(SecretStore::load(
            mode,
            &specs,
            &EnvSource,
            Some(&settings.data_dir.join("secrets")),
        )?);
        if !secrets.generated().is_empty() {
            notices.push(format!(
                "WARNING: simulation mode with DEVELOPMENT secrets ({}) kept in {}; never use them in production",
                secrets.generated().join(", "),
                settings.data_dir.join("secrets").display()
            ));
        }
        let mut marble_tls = TlsMaterial::from_marble_env(&EnvSource)?;
        if marble_tls.is_some() && selected.len() > 1 {
            bail!("MarbleRun certificates belong to one marble: run one service with --service");
        }
        // Every decision that can refuse is taken before anything starts.
        let alone = options.service.is_some();
        let mut plans = Vec::new();
        for service in &selected {
            // MarbleRun's certificate (one marble, one service), else the one `--tls-dir`
            // holds for it. It serves, and it is the client certificate for calls out.
            let material = match (marble_tls.take(), &settings.tls_dir) {
                (Some(marble), _) => Some(marble),
                (None, Some(dir)) => Some(load_tls_dir(dir, service.name())?),
                (None, None) => None,
            };
            if mode == RuntimeMode::Enclave && material.is_none() {
                bail!(
                    "enclave mode needs mutual TLS: MarbleRun's certificates (MARBLE_PREDEFINED_*) are missing"
                );
            }
            // Internal services answer other services only. In one process they are called
            // in-process, so they need no socket unless asked for; a socket of theirs needs
            // mutual TLS (or the loud development flag), or any local process could act as
            // any service.
            let internal = service.reach() == Reach::Internal;
            let listens = !internal || material.is_some() || alone || options.expose_internal;
            if internal && material.is_none() && listens && !options.insecure_dev_identity {
                bail!(
                    "{} is internal: its listener needs mutual TLS (--tls-dir from `neosl dev-certs`, or MarbleRun's certificates){}",
                    service.name(),
                    if alone {
                        ""
                    } else {
                        "; or leave out --expose-internal and the gateway calls it in-process"
                    }
                );
            }
            plans.push((service.clone(), material, listens));
        }
        let database = Database::connect(&settings.database_url())
            .await
            .context("opening the database")?;
        database
            .claim_environment(mode)
            .await
            .context("checking the database")?;
        let fees = Arc::new(
            registry
                .fee_schedule(&settings)
                .map_err(|e| anyhow::anyhow!("settings: {e}"))?,
        );
        let (chain, chain_readiness) = connect_chain(&settings).await;
        let (stop, stopped) = watch::channel(false);
        let limits = Limits {
            body_limit_bytes: settings.body_limit_bytes,
            request_timeout: Duration::from_secs(settings.request_timeout_secs),
        };
        let grace = Duration::from_secs(settings.shutdown_grace_secs);
        let mut platform = Self {
            services: Vec::new(),
            routers: Vec::new(),
            stop,
            servers: Vec::new(),
            jobs: Vec::new(),
            notices,
        };
        let mut built: Vec<(&'static str, Router)> = Vec::new();
        // The service whose /health and /ready the probe listener answers.
        let mut probed: Option<Arc<ServiceInfo>> = None;
        // The own checks of services without a listener, shown by the public listeners.
        let mut unseen: Vec<Arc<dyn Readiness>> = Vec::new();
        for (service, material, listens) in plans {
            let name = service.name();
            let tls = material
                .as_ref()
                .map(TlsMaterial::server_config)
                .transpose()?;
            let peers = registry
                .services()
                .iter()
                .filter(|other| other.name() != name)
                .map(|other| {
                    Ok(Peer {
                        service: other.clone(),
                        transport: transport_to(
                            other.name(),
                            name,
                            &settings,
                            &built,
                            material.as_ref(),
                        )?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let context = ServiceContext {
                settings: settings.clone(),
                secrets: secrets.clone(),
                mode,
                database: database.clone(),
                chain: chain.clone(),
                peers,
                planned: registry.planned().to_vec(),
                fees: fees.clone(),
                clock: options.clock.clone(),
                shutdown: stopped.clone(),
            };
            let started = service
                .start(context)
                .await
                .with_context(|| format!("starting {name}"))?;
            let mut readiness: Vec<Arc<dyn Readiness>> = vec![
                Arc::new(DatabaseReadiness(database.clone())),
                Arc::new(SecretsReadiness::of(&secrets, service.secrets())),
            ];
            readiness.extend(chain_readiness.clone());
            if !listens {
                unseen.extend(started.readiness.iter().map(|check| {
                    Arc::new(InProcessCheck {
                        service: name,
                        check: check.clone(),
                    }) as Arc<dyn Readiness>
                }));
            } else if service.reach() == Reach::Public {
                readiness.extend(unseen.iter().cloned());
            }
            readiness.extend(started.readiness);
            let metrics_token_hash = service
                .declaration()
                .operator_token
                .map(|secret| secrets.use_secret(secret, neosl_crypto::hash::sha256))
                .transpose()?;
            let info = Arc::new(ServiceInfo {
                name: name.to_owned(),
                mode,
                strict_identity: mode == RuntimeMode::Enclave || tls.is_some(),
                internal: service.reach() == Reach::Internal,
                public_keys: service.published_keys(&secrets)?,
                readiness,
                started: Instant::now(),
                edge: EdgePolicy {
                    allowed_hosts: settings.allowed_hosts.clone(),
                    trusted_proxies: settings.trusted_proxies.clone(),
                },
                metrics_token_hash,
            });
            for (job, future) in started.jobs {
                platform.jobs.push((job, tokio::spawn(future)));
            }
            // One replica at a time, failing over within the chain-work lease.
            let lease_ttl = Duration::from_secs(settings.chain_work_lease_secs.max(3));
            for (job, make) in started.singletons {
                let lease = neosl_runtime::singleton::Singleton::open(
                    database.clone(),
                    format!("{name}:{job}"),
                    neosl_runtime::singleton::replica_id(),
                    lease_ttl,
                    options.clock.clone(),
                )
                .await
                .with_context(|| format!("the lease of {name}'s {job}"))?;
                platform.jobs.push((
                    job,
                    tokio::spawn(neosl_runtime::singleton::lead_while(
                        lease,
                        lease_ttl / 3,
                        stopped.clone(),
                        make,
                    )),
                ));
            }
            if listens && (alone || service.reach() == Reach::Public) {
                probed = Some(info.clone());
            }
            let router = server::router(info, started.router, limits);
            built.push((name, router.clone()));
            if !listens {
                platform.services.push(Running {
                    name,
                    url: None,
                    note: "in-process only (internal; no listener)".into(),
                });
                continue;
            }
            let default: SocketAddr = service.declaration().default_listen.parse()?;
            let mut addr = settings.listen_of(name, default);
            if let Some(listen) = options.listen
                && (alone || service.reach() == Reach::Public)
            {
                addr = listen;
            }
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("{name} cannot listen on {addr}"))?;
            let bound = listener.local_addr()?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let internal = service.reach() == Reach::Internal;
            platform.services.push(Running {
                name,
                url: Some(format!("{scheme}://{bound}")),
                note: format!(
                    "{}{}",
                    if internal { "internal" } else { "public" },
                    if tls.is_some() {
                        ", mutual TLS"
                    } else if internal {
                        ", INSECURE development identity"
                    } else {
                        ""
                    }
                ),
            });
            platform.servers.push(tokio::spawn(server::serve(
                listener,
                router,
                tls,
                stopped.clone(),
                grace,
            )));
        }
        if let (Some(addr), Some(info)) = (settings.probe_listen, probed) {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("the probe listener cannot listen on {addr}"))?;
            let bound = listener.local_addr()?;
            platform.services.push(Running {
                name: "probe",
                url: Some(format!("http://{bound}")),
                note: format!("/health and /ready of {} only", info.name),
            });
            platform.servers.push(tokio::spawn(server::serve(
                listener,
                server::probe_router(info),
                None,
                stopped.clone(),
                grace,
            )));
        }
        platform.routers = built;
        Ok(platform)
    }

    /// A way to call `service` in this process as `caller` would (operator tools, tests):
    /// its full router, skeleton included.
    pub fn in_process(&self, service: &str, caller: &str) -> Option<ServiceTransport> {
        self.routers
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, router)| ServiceTransport::InProcess {
                router: router.clone(),
                caller: caller.into(),
            })
    }

    /// The services as they run.
    pub fn services(&self) -> &[Running] {
        &self.services
    }

    /// The address of `name`, when it listens.
    pub fn url_of(&self, name: &str) -> Option<&str> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.url.as_deref())
    }

    /// Warnings for the operator (also in the log).
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Stops gracefully: listeners stop accepting and finish what is in flight, jobs end.
    pub async fn stop(self) -> Result<()> {
        self.stop.send(true).ok();
        for server in self.servers {
            server.await??;
        }
        for (name, job) in self.jobs {
            if let Err(e) = job.await {
                tracing::warn!(job = name, error = %e, "a job ended abnormally");
            }
        }
        Ok(())
    }
}

/// How `caller` reaches `service`: its router when it runs in this process, else its
/// configured URL (over mutual TLS with the caller's certificate when there is one).
/// A check of an in-process service that has no listener of its own, shown on the public
/// listener's `/ready` as a warning: the public service answers, and the operator sees what
/// the service behind it lacks (an unregistered TEE account, a pair without quorum).
struct InProcessCheck {
    service: &'static str,
    check: Arc<dyn Readiness>,
}

#[async_trait::async_trait]
impl Readiness for InProcessCheck {
    fn name(&self) -> &str {
        self.service
    }

    async fn check(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    async fn warning(&self) -> Option<String> {
        match self.check.check().await {
            Err(reason) => Some(format!("{}: {reason}", self.check.name())),
            Ok(()) => self
                .check
                .warning()
                .await
                .map(|w| format!("{}: {w}", self.check.name())),
        }
    }
}

fn transport_to(
    service: &str,
    caller: &str,
    settings: &Settings,
    built: &[(&'static str, Router)],
    tls: Option<&TlsMaterial>,
) -> Result<Option<ServiceTransport>> {
    if let Some((_, router)) = built.iter().find(|(name, _)| *name == service) {
        return Ok(Some(ServiceTransport::InProcess {
            router: router.clone(),
            caller: caller.into(),
        }));
    }
    let Some(url) = settings.services.get(service).and_then(|s| s.url.clone()) else {
        return Ok(None);
    };
    let client = match tls {
        Some(material) => material.http_client()?,
        None => reqwest::Client::new(),
    };
    Ok(Some(ServiceTransport::Http {
        base_url: url,
        client,
        caller: caller.into(),
    }))
}

/// The RPC address of the development chain `neosl devnet` runs from this data directory.
fn devnet_rpc(data_dir: &Path) -> Option<String> {
    let bytes = std::fs::read(data_dir.join("devnet").join("devnet.json")).ok()?;
    let info: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    info["rpc_url"].as_str().map(str::to_owned)
}

/// The chain, when RPC endpoints are configured (or `neosl devnet` runs from this data
/// directory) and answer; and its readiness check.
async fn connect_chain(settings: &Settings) -> (Option<Chain>, Option<Arc<dyn Readiness>>) {
    let (endpoints, from_devnet) = if settings.chain_rpc.is_empty() {
        match devnet_rpc(&settings.data_dir) {
            Some(url) => (vec![url], true),
            None => return (None, None),
        }
    } else {
        (settings.chain_rpc.clone(), false)
    };
    let rpc = match RpcClient::new(endpoints, RpcConfig::default()) {
        Ok(rpc) => rpc,
        Err(e) => {
            let reason = format!("the chain RPC settings are invalid: {e}");
            tracing::warn!(%reason);
            return (None, Some(Arc::new(ChainReadiness::Missing(reason))));
        }
    };
    match Submitter::connect(rpc.clone(), SubmitConfig::default()).await {
        Ok(submitter) => (
            Some(Chain {
                rpc: rpc.clone(),
                submitter,
            }),
            Some(Arc::new(ChainReadiness::Rpc(rpc))),
        ),
        Err(e) if from_devnet => {
            tracing::info!(error = %e, "the development chain of this data directory is not running: no chain");
            (None, None)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the chain does not answer; chain work is unavailable until restart");
            (
                None,
                Some(Arc::new(ChainReadiness::Missing(
                    "the chain did not answer at start-up; restart once it does".into(),
                ))),
            )
        }
    }
}

/// Creates the data directory (database, development secrets) owner-only, and makes an
/// existing one owner-only.
fn owner_only_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} owner-only", dir.display()))?;
    Ok(())
}

fn load_tls_dir(dir: &Path, service: &str) -> Result<TlsMaterial> {
    let read = |name: String| {
        std::fs::read_to_string(dir.join(&name))
            .with_context(|| format!("{}: missing {name} (run neosl dev-certs)", dir.display()))
    };
    let key = neosl_runtime::secrets::ZeroizingString::new(read(format!("{service}-key.pem"))?);
    Ok(TlsMaterial::from_pem(
        &read(format!("{service}.pem"))?,
        &key,
        &read("ca.pem".into())?,
    )?)
}

/// `neosl secrets`: every secret each service of `registry` reads, as text or JSON.
pub fn secrets_listing(registry: &Registry, as_json: bool) -> String {
    if as_json {
        let value: serde_json::Value = registry
            .services()
            .iter()
            .map(|s| {
                let secrets: Vec<serde_json::Value> = s
                    .secrets()
                    .iter()
                    .map(|spec| {
                        serde_json::json!({
                            "name": spec.name,
                            "description": spec.description,
                            "min_len": spec.min_len,
                            "exact_len": spec.exact_len,
                            "alternatives_group": spec.group,
                            "optional": spec.optional,
                        })
                    })
                    .collect();
                (s.name().to_owned(), serde_json::Value::Array(secrets))
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        return format!("{value:#}\n");
    }
    let mut out = String::new();
    for service in registry.services() {
        out.push_str(&format!("{}:\n", service.name()));
        if service.secrets().is_empty() {
            out.push_str("  (none)\n");
        }
        for spec in service.secrets() {
            let group = spec
                .group
                .map(|g| format!(" [one of group {g}]"))
                .unwrap_or_default()
                + if spec.optional { " [optional]" } else { "" };
            out.push_str(&format!(
                "  {:<20} {}{group}\n",
                spec.name, spec.description
            ));
        }
    }
    out
}
