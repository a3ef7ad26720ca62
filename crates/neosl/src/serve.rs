//! `neosl serve`: every service in one process (the embedded default), or one service alone as
//! one MarbleRun marble would run it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use neosl_runtime::RuntimeMode;
use neosl_runtime::config::Settings;
use neosl_runtime::db::{Database, DatabaseReadiness};
use neosl_runtime::secrets::{EnvSource, SecretStore};
use neosl_runtime::server::{self, EdgePolicy, Limits, ServiceInfo};
use neosl_runtime::tls::TlsMaterial;
use tokio::sync::watch;

use crate::services::{self, SERVICES, ServiceDef};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Settings file (TOML); also `NEOSL_CONFIG`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run only this service (as one marble would).
    #[arg(long)]
    service: Option<String>,
    /// Where the service (or, with every service, the gateway) listens.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The data directory (database, development secrets); also `NEOSL_DATA_DIR`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Enclave or simulation (default: `OE_SIMULATION`, simulation unless it is `0`).
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Serve over mutual TLS with the certificates `neosl dev-certs` wrote; also `NEOSL_TLS_DIR`.
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// With every service in one process, also give the internal services (AccountPool, VRF)
    /// listeners of their own (they need mutual TLS, `--tls-dir`); by default the gateway calls
    /// them in-process and nothing else can reach them.
    #[arg(long)]
    expose_internal: bool,
    /// DEVELOPMENT ONLY: let internal services listen without mutual TLS, naming callers by
    /// the `X-Service-ID` header. Any local process can then act as any service. Refused in
    /// enclave mode.
    #[arg(long)]
    insecure_dev_identity: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Enclave,
    Simulation,
}

pub fn init_tracing(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = if settings.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Settings from the file, the environment and the common flags.
pub fn settings_from(config: Option<&Path>, data_dir: Option<PathBuf>) -> Result<Settings> {
    let mut settings = Settings::load(config, &EnvSource)?;
    if let Some(dir) = data_dir {
        settings.data_dir = dir;
    }
    Ok(settings)
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let mut settings = Settings::load(args.config.as_deref(), &EnvSource)?;
    if let Some(dir) = args.data_dir {
        settings.data_dir = dir;
    }
    if let Some(mode) = args.mode {
        settings.mode = Some(match mode {
            ModeArg::Enclave => RuntimeMode::Enclave,
            ModeArg::Simulation => RuntimeMode::Simulation,
        });
    }
    if let Some(dir) = args.tls_dir {
        settings.tls_dir = Some(dir);
    }
    init_tracing(&settings);
    let mode = RuntimeMode::resolve(settings.mode);
    let selected: Vec<&ServiceDef> = match &args.service {
        Some(name) => vec![services::find(name).with_context(|| {
            format!(
                "unknown service {name:?}; known: {}",
                SERVICES
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?],
        None => SERVICES.iter().collect(),
    };
    owner_only_dir(&settings.data_dir)?;
    if args.insecure_dev_identity {
        if mode == RuntimeMode::Enclave {
            bail!("--insecure-dev-identity is for development: refused in enclave mode");
        }
        eprintln!(
            "WARNING: --insecure-dev-identity: internal services without mutual TLS trust the X-Service-ID header; ANY local process can act as any service (sign with pool accounts, use VRF for free). Development only."
        );
        tracing::warn!(
            "insecure development identity: internal services trust X-Service-ID without certificates"
        );
    }

    let specs: Vec<_> = selected
        .iter()
        .flat_map(|s| s.secrets.iter().copied())
        .collect();
    let secrets = SecretStore::load(
        mode,
        &specs,
        &EnvSource,
        Some(&settings.data_dir.join("secrets")),
    )?;
    if !secrets.generated().is_empty() {
        eprintln!(
            "WARNING: simulation mode with DEVELOPMENT secrets ({}) kept in {}; never use them in production",
            secrets.generated().join(", "),
            settings.data_dir.join("secrets").display()
        );
    }

    let marble_tls = TlsMaterial::from_marble_env(&EnvSource)?;
    if marble_tls.is_some() && selected.len() > 1 {
        bail!("MarbleRun certificates belong to one marble: run one service with --service");
    }
    let (stop, stopped) = watch::channel(false);
    let limits = Limits {
        body_limit_bytes: settings.body_limit_bytes,
        request_timeout: Duration::from_secs(settings.request_timeout_secs),
    };
    let grace = Duration::from_secs(settings.shutdown_grace_secs);
    println!(
        "neosl {} — {mode} mode{}",
        env!("CARGO_PKG_VERSION"),
        if mode.is_simulation() {
            " (nothing is attested)"
        } else {
            ""
        }
    );
    let mut tasks = Vec::new();
    let mut background = Vec::new();
    let mut built = std::collections::HashMap::new();
    for service in &selected {
        // This service's certificate: MarbleRun's, else the one `--tls-dir` holds for it. It
        // serves, and it is also the client certificate for calls to other services.
        let dir_material = match (&marble_tls, &settings.tls_dir) {
            (None, Some(dir)) => Some(load_tls_dir(dir, service.name)?),
            _ => None,
        };
        let material = marble_tls.as_ref().or(dir_material.as_ref());
        let tls = material.map(TlsMaterial::server_config).transpose()?;
        if mode == RuntimeMode::Enclave && tls.is_none() {
            bail!(
                "enclave mode needs mutual TLS: MarbleRun's certificates (MARBLE_PREDEFINED_*) are missing"
            );
        }
        // Internal services answer other services only. In one process the gateway calls them
        // in-process, so they need no socket unless asked for; a socket of theirs needs mutual
        // TLS (or the loud development flag), or any local process could act as any service.
        // Decided before the service starts, so a refusal changes nothing.
        let alone = args.service.is_some();
        let listens = !service.internal || tls.is_some() || alone || args.expose_internal;
        if service.internal && tls.is_none() && listens && !args.insecure_dev_identity {
            bail!(
                "{} is internal: its listener needs mutual TLS (--tls-dir from `neosl dev-certs`, or MarbleRun's certificates){}",
                service.name,
                if alone {
                    ""
                } else {
                    "; or leave out --expose-internal and the gateway calls it in-process"
                }
            );
        }
        let info = Arc::new(ServiceInfo {
            name: service.name.to_owned(),
            mode,
            strict_identity: mode == RuntimeMode::Enclave || tls.is_some(),
            internal: service.internal,
            public_keys: services::published_keys(service, &secrets)?,
            readiness: vec![Arc::new(DatabaseReadiness(
                Database::connect(&settings.database_url())
                    .await
                    .context("opening the database")?,
            ))],
            started: Instant::now(),
            edge: EdgePolicy {
                allowed_hosts: settings.allowed_hosts.clone(),
                trusted_proxies: settings.trusted_proxies.clone(),
            },
            metrics_token_hash: services::operator_token_hash(service, &secrets)?,
        });
        let started = services::start(
            service,
            &settings,
            &secrets,
            mode,
            stopped.clone(),
            &built,
            material,
        )
        .await?;
        background.extend(started.tasks);
        let router = server::router(info, started.api, limits);
        built.insert(service.name.to_owned(), router.clone());
        if !listens {
            println!(
                "  {:<12} in-process only (internal; no listener)",
                service.name
            );
            continue;
        }
        let default: SocketAddr = service.default_listen.parse()?;
        let mut addr = settings.listen_of(service.name, default);
        if let Some(listen) = args.listen
            && (args.service.is_some() || service.name == "gateway")
        {
            addr = listen;
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("{} cannot listen on {addr}", service.name))?;
        let bound = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!(
            "  {:<12} {scheme}://{bound}  ({}{})",
            service.name,
            if service.internal {
                "internal"
            } else {
                "public"
            },
            if tls.is_some() {
                ", mutual TLS"
            } else if service.internal {
                ", INSECURE development identity"
            } else {
                ""
            }
        );
        tasks.push(tokio::spawn(server::serve(
            listener,
            router,
            tls,
            stopped.clone(),
            grace,
        )));
    }
    // The handlers exist before "ready" is printed: a supervisor may signal at once.
    let signalled = shutdown_signal()?;
    println!("ready; Ctrl-C or SIGTERM stops gracefully");
    signalled.await;
    tracing::info!("shutting down");
    stop.send(true).ok();
    for task in tasks {
        task.await??;
    }
    for task in background {
        task.await.ok();
    }
    // stdout may be gone by now (a supervisor that stopped reading): never fail on it.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), b"stopped\n");
    Ok(())
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
    let key = zeroize_string(read(format!("{service}-key.pem"))?);
    Ok(TlsMaterial::from_pem(
        &read(format!("{service}.pem"))?,
        &key,
        &read("ca.pem".into())?,
    )?)
}

fn zeroize_string(s: String) -> neosl_runtime::secrets::ZeroizingString {
    neosl_runtime::secrets::ZeroizingString::new(s)
}

/// Installs the SIGTERM and SIGINT handlers now; the future completes on either.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
