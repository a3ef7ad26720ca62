//! `neosl serve`: every service in one process (the embedded default), or one service alone as
//! one MarbleRun marble would run it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use neosl::{Options, Platform};
use neosl_runtime::RuntimeMode;
use neosl_runtime::config::Settings;
use neosl_runtime::secrets::EnvSource;

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

/// Settings from the file, the environment and the common flags, checked against the
/// registry of this build.
pub fn settings_from(config: Option<&Path>, data_dir: Option<PathBuf>) -> Result<Settings> {
    let mut settings = neosl::registry().load_settings(config, &EnvSource)?;
    if let Some(dir) = data_dir {
        settings.data_dir = dir;
    }
    Ok(settings)
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let registry = neosl::registry();
    let mut settings = settings_from(args.config.as_deref(), args.data_dir)?;
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
    let options = Options {
        service: args.service,
        listen: args.listen,
        expose_internal: args.expose_internal,
        insecure_dev_identity: args.insecure_dev_identity,
        clock: neosl_runtime::clock::system(),
    };
    println!(
        "neosl {} — {mode} mode{}",
        env!("CARGO_PKG_VERSION"),
        if mode.is_simulation() {
            " (nothing is attested)"
        } else {
            ""
        }
    );
    let platform = Platform::start(&registry, settings, options).await?;
    for notice in platform.notices() {
        eprintln!("{notice}");
    }
    for service in platform.services() {
        match &service.url {
            Some(url) => println!("  {:<12} {url}  ({})", service.name, service.note),
            None => println!("  {:<12} {}", service.name, service.note),
        }
    }
    // The handlers exist before "ready" is printed: a supervisor may signal at once.
    let signalled = shutdown_signal()?;
    println!("ready; Ctrl-C or SIGTERM stops gracefully");
    signalled.await;
    tracing::info!("shutting down");
    platform.stop().await?;
    // stdout may be gone by now (a supervisor that stopped reading): never fail on it.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), b"stopped\n");
    Ok(())
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
