//! Test-only helpers shared by the workspace's integration tests.
//!
//! [`python_tools`] provides a Python virtual environment with the exact packages listed in
//! `tools/python-requirements.txt` (independent Neo implementations such as neo-mamba). It is
//! created on first use under `target/neosl-tools/`, reused afterwards, rebuilt when the
//! requirements change, and guarded by a file lock so that parallel test binaries build it once.
//! Nothing here is skipped when a tool is missing: a test that needs a tool installs it or fails.
//!
//! [`exchanges`] runs local exchange servers in each exchange's own wire format for the
//! DataFeeds tests (the real exchanges cannot be reached from a test machine).

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

pub mod exchanges;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Where tools are installed: `$NEOSL_TOOLS_DIR`, else `target/neosl-tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("NEOSL_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("neosl-tools"))
}

/// A ready Python environment.
#[derive(Debug, Clone)]
pub struct PythonTools {
    venv: PathBuf,
}

impl PythonTools {
    /// The environment's Python interpreter.
    pub fn python(&self) -> PathBuf {
        self.venv.join("bin").join("python")
    }

    /// Runs `script` with the environment's Python, feeding `input` as JSON on stdin and parsing
    /// stdout as JSON. A non-zero exit is an error carrying the script's stderr.
    pub fn run_json(&self, script: &Path, input: &serde_json::Value) -> Result<serde_json::Value> {
        let mut child = Command::new(self.python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", script.display()))?;
        let mut stdin = child.stdin.take().context("stdin")?;
        let payload = serde_json::to_vec(input)?;
        let writer = std::thread::spawn(move || stdin.write_all(&payload));
        let output = child.wait_with_output()?;
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("stdin writer panicked"))??;
        if !output.status.success() {
            bail!(
                "{} failed ({}):\n{}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "{} printed no JSON: {}",
                script.display(),
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }
}

/// Ensures the Python environment exists with the pinned requirements, and returns it.
pub fn python_tools() -> Result<PythonTools> {
    let requirements = workspace_root()
        .join("tools")
        .join("python-requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let dir = tools_dir();
    fs::create_dir_all(&dir)?;
    let lock = File::create(dir.join("python.lock"))?;
    lock.lock().context("locking the tools directory")?;
    let venv = dir.join("venv");
    let stamp = venv.join("requirements.installed");
    let tools = PythonTools { venv: venv.clone() };
    if fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
        && tools.python().exists()
    {
        return Ok(tools);
    }
    if venv.exists() {
        fs::remove_dir_all(&venv)?;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        "creating the Python venv",
    )?;
    run(
        Command::new(tools.python())
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "installing the Python test tools",
    )?;
    fs::write(&stamp, wanted)?;
    Ok(tools)
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let output = cmd.output().with_context(|| what.to_owned())?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// A compiled contract: the NEF file bytes and the manifest JSON text.
#[derive(Debug, Clone)]
pub struct CompiledContract {
    /// The `.nef` file.
    pub nef: Vec<u8>,
    /// The `.manifest.json` file.
    pub manifest: String,
}

/// The canonical form of a manifest: neo3-boa lists events in an order that changes from run to
/// run (its NEF is stable), so events are sorted by name and the JSON written compactly with
/// sorted keys. The contract's hash does not depend on the manifest, and the node reads it in
/// any order.
pub fn canonical_manifest(manifest: &str) -> Result<String> {
    let mut value: serde_json::Value = serde_json::from_str(manifest).context("manifest JSON")?;
    if let Some(events) = value
        .get_mut("abi")
        .and_then(|abi| abi.get_mut("events"))
        .and_then(|e| e.as_array_mut())
    {
        events.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    }
    Ok(serde_json::to_string(&value)?)
}

/// Compiles `contracts/<name>/<name>.py` with neo3-boa into `target/neosl-tools/contracts/`;
/// the manifest comes back in its canonical form ([`canonical_manifest`]).
pub fn compile_contract(name: &str) -> Result<CompiledContract> {
    let tools = python_tools()?;
    let source = workspace_root()
        .join("contracts")
        .join(name)
        .join(format!("{name}.py"));
    let out_dir = tools_dir().join("contracts").join(name);
    fs::create_dir_all(&out_dir)?;
    let lock = File::create(out_dir.join("compile.lock"))?;
    lock.lock()?;
    let nef = out_dir.join(format!("{name}.nef"));
    let boa = tools.venv.join("bin").join("neo3-boa");
    run(
        Command::new(&boa)
            .arg("compile")
            .arg(&source)
            .arg("-o")
            .arg(&nef),
        "compiling the test contract",
    )?;
    Ok(CompiledContract {
        nef: fs::read(&nef)?,
        manifest: canonical_manifest(&fs::read_to_string(
            out_dir.join(format!("{name}.manifest.json")),
        )?)?,
    })
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system temp directory.
    pub fn new(prefix: &str) -> Result<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The PostgreSQL server the tests use: `$NEOSL_TEST_POSTGRES_URL`, else the local server
/// (trust authentication) as user `postgres`.
pub fn postgres_admin_url() -> String {
    std::env::var("NEOSL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, uniquely named database name for one test.
pub fn unique_database_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    // PostgreSQL cuts names at 63 bytes: the prefix keeps 24, the unique tail fits the rest.
    let prefix: String = prefix.chars().take(24).collect();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// The URL of database `name` on the test server.
pub fn postgres_url_for(name: &str) -> String {
    let admin = postgres_admin_url();
    match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => format!("{admin}/{name}"),
    }
}

/// A fresh PostgreSQL database on the test server, for one test (drop it with [`Self::drop`]).
#[derive(Debug)]
pub struct TestPostgres {
    /// The database name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl TestPostgres {
    /// Creates a uniquely named database. PostgreSQL must run (`tools/test` starts it).
    pub async fn create(prefix: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let name = unique_database_name(prefix);
        let admin = sqlx::AnyPool::connect(&postgres_admin_url())
            .await
            .context("PostgreSQL must be running on 127.0.0.1:5432 (tools/test starts it)")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await?;
        admin.close().await;
        Ok(Self {
            url: postgres_url_for(&name),
            name,
        })
    }

    /// Drops the database (closing its connections).
    pub async fn drop(self) {
        if let Ok(admin) = sqlx::AnyPool::connect(&postgres_admin_url()).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
            admin.close().await;
        }
    }
}

/// A database for one test on one backend: SQLite in a temporary directory, or a fresh
/// PostgreSQL database. Every store's suite runs on both ([`on_both_backends!`]).
#[derive(Debug)]
pub enum TestDatabase {
    /// SQLite, in this directory.
    Sqlite(TempDir),
    /// PostgreSQL, this database.
    Postgres(TestPostgres),
}

impl TestDatabase {
    /// A SQLite database in a new temporary directory.
    pub fn sqlite(prefix: &str) -> Self {
        match TempDir::new(prefix) {
            Ok(dir) => Self::Sqlite(dir),
            Err(e) => panic!("a temporary directory for {prefix}: {e}"),
        }
    }

    /// A fresh PostgreSQL database (PostgreSQL must run; `tools/test` starts it).
    pub async fn postgres(prefix: &str) -> Self {
        match TestPostgres::create(prefix).await {
            Ok(db) => Self::Postgres(db),
            Err(e) => panic!("a PostgreSQL test database for {prefix}: {e:#}"),
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("test.db").display()),
            Self::Postgres(db) => db.url.clone(),
        }
    }

    /// Whether it is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Removes it (PostgreSQL: drops the database; SQLite: the directory goes with the value).
    pub async fn cleanup(self) {
        if let Self::Postgres(db) = self {
            db.drop().await;
        }
    }
}

/// Runs `async fn $name(db: &TestDatabase)` as two tests, `$name::sqlite` and
/// `$name::postgres`, each on a fresh database (the calling crate needs tokio).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let db = $crate::TestDatabase::sqlite(stringify!($name));
                    super::$name(&db).await;
                    db.cleanup().await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let db = $crate::TestDatabase::postgres(concat!("neosl_", stringify!($name))).await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            }
        )+
    };
}

/// Waits until `probe` answers `Some` (polling every 10 ms) and returns it; after `limit` the
/// test fails naming `what`. Tests wait for a condition like this, never for the wall clock.
pub async fn wait_until<T, F: std::future::Future<Output = Option<T>>>(
    limit: std::time::Duration,
    what: impl std::fmt::Display,
    mut probe: impl FnMut() -> F,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
