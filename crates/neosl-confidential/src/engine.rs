//! `Confidential`: jobs from submission to signed result.
//!
//! A job is checked, its fee (the `confidential` fee plus the fuel price of its fuel limit) is
//! reserved from the owner's GasBank account, and it is recorded: `running` under this
//! replica's claim when it is answered in the request, `queued` for the worker otherwise. To
//! run, its secrets are asked of the Secrets service (one use, audited there; a refusal ends
//! the job `refused` and releases the fee), the program runs on a blocking thread under its
//! limits, and the end is written with the fee settled in one transaction: the `confidential`
//! fee plus the fuel price of the fuel used, whether the program succeeded or failed by
//! itself; nothing when the platform failed. A success is signed over the
//! [`neosl_contracts::confidential::Attestation`] message.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use neosl_api::Transport;
use neosl_api::onchain::{FulfilAnswer, FulfilRequest};
use neosl_api::secrets::{UseAnswer, UseRequest};
use neosl_contracts::confidential::{self as wire, Attestation};
use neosl_crypto::ecdsa::SigningKey;
use neosl_gasbank::{GasBank, Owner};
use neosl_runtime::clock::SharedClock;
use neosl_runtime::error::TextFields;
use neosl_runtime::service::FeeSchedule;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use zeroize::Zeroizing;

use crate::error::ConfidentialError;
use crate::runtime::{self, Engine, Failure, FailureCode, Limits, Secret};
use crate::settings::ConfidentialSettings;
use crate::store::{CodeRow, Finish, JobRow, Store};

/// The fee of a job from HTTP (plus the fuel price).
pub const FEE: &str = "confidential";
/// The fee of a contract's job (its fuel limit is `onchain_limits`).
pub const ONCHAIN_FEE: &str = "confidential_onchain";

/// `POST /confidential/execute`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// `wasm` or `js`.
    pub runtime: String,
    /// The program.
    pub code: String,
    /// `text` (default) or `base64` (a WebAssembly binary).
    #[serde(default)]
    pub code_encoding: Option<String>,
    /// The input.
    #[serde(default)]
    pub input: Option<String>,
    /// `text` (default), `hex` or `base64`.
    #[serde(default)]
    pub input_encoding: Option<String>,
    /// The owner's secrets the program may read.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Limits (each at most the platform's maximum; missing ones take the defaults).
    #[serde(default)]
    pub limits: Option<LimitsRequest>,
    /// Return at once with the job id instead of waiting for the result.
    #[serde(default, rename = "async")]
    pub run_async: bool,
}

impl TextFields for ExecuteRequest {
    const TEXT_FIELDS: &'static [&'static str] = &["code", "input"];
}

/// Limits a request asks for.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsRequest {
    /// Fuel.
    pub fuel: Option<u64>,
    /// Memory (bytes).
    pub memory_bytes: Option<u64>,
    /// Wall clock (ms).
    pub wall_ms: Option<u64>,
    /// Output (bytes).
    pub output_bytes: Option<u64>,
}

/// `POST /confidential/code`: code a contract may run by its upload id.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeUpload {
    /// `wasm` or `js`.
    pub runtime: String,
    /// The program.
    pub code: String,
    /// `text` (default) or `base64`.
    #[serde(default)]
    pub code_encoding: Option<String>,
    /// The uploader's secrets each run is granted.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// The contracts that may run it (`0x…`).
    pub allowed_contracts: Vec<String>,
}

impl TextFields for CodeUpload {
    const TEXT_FIELDS: &'static [&'static str] = &["code"];
}

/// The fee of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFee {
    /// Held while it runs (10^-8 GAS).
    pub reserved: i64,
    /// Taken when it ended (None while it runs, or when nothing was charged).
    pub charged: Option<i64>,
}

/// A failed or refused job's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// The stable code.
    pub code: String,
    /// What happened.
    pub message: String,
}

/// A job as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    /// Its id.
    pub id: String,
    /// `queued`, `running`, `succeeded`, `failed` or `refused`.
    pub state: String,
    /// `wasm` or `js`.
    pub runtime: String,
    /// SHA-256 of the code (hex).
    pub code_hash: String,
    /// SHA-256 of the input (hex).
    pub input_hash: String,
    /// The secrets it was granted (names only).
    pub secrets: Vec<String>,
    /// SHA-256 over those names (hex), as signed.
    pub secrets_hash: String,
    /// The output as text, when it is UTF-8.
    pub output: Option<String>,
    /// The output (hex).
    pub output_hex: Option<String>,
    /// SHA-256 of the output (hex).
    pub output_hash: Option<String>,
    /// Fuel used.
    pub fuel_used: Option<i64>,
    /// Its limits.
    pub limits: Limits,
    /// The signed message (hex), on success.
    pub signed_message: Option<String>,
    /// The Confidential key's signature over it (hex, r ‖ s), on success.
    pub signature: Option<String>,
    /// The key that signed (compressed, hex; published in `/attestation` as `confidential`).
    pub public_key: String,
    /// Why it failed or was refused.
    pub error: Option<JobError>,
    /// The program's log.
    pub log: Option<String>,
    /// Its fee.
    pub fee: JobFee,
    /// Submitted (Unix ms).
    pub created_at: i64,
    /// Finished (Unix ms).
    pub finished_at: Option<i64>,
}

/// Uploaded code as its owner sees it.
pub type CodeView = CodeRow;

/// The Confidential service's state.
pub struct Confidential {
    store: Store,
    bank: GasBank,
    fees: Arc<FeeSchedule>,
    clock: SharedClock,
    settings: ConfidentialSettings,
    key: SigningKey,
    public_key: String,
    fulfilment: SigningKey,
    secrets: Option<Arc<dyn Transport>>,
    replica: String,
    slots: Arc<Semaphore>,
    lease_ms: i64,
}

impl std::fmt::Debug for Confidential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confidential")
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

fn decode(text: &str, encoding: Option<&str>, what: &str) -> Result<Vec<u8>, String> {
    match encoding.unwrap_or("text") {
        "text" => Ok(text.as_bytes().to_vec()),
        "hex" => hex::decode(text).map_err(|_| format!("{what} is not hex")),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| format!("{what} is not base64")),
        other => Err(format!(
            "{what}_encoding is text, hex or base64, not {other:?}"
        )),
    }
}

/// A 32-byte digest stored as hex (zeros if the row holds something else).
fn digest_of(hex_text: &str) -> [u8; 32] {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; 32])
}

fn check_secrets(names: &[String]) -> Result<Vec<String>, ConfidentialError> {
    if names.len() > 16 {
        return Err(ConfidentialError::InvalidSecrets(
            "a job names at most 16 secrets".into(),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if !neosl_api::secrets::valid_name(name) {
            return Err(ConfidentialError::InvalidSecrets(format!(
                "{name:?} is not a secret name"
            )));
        }
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

/// Aborts a task when dropped (the claim renewal ends with the run it keeps alive).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long a job's fee stays reserved (longer than any job waits in the queue and runs; a
/// job that still outlives it ends uncharged rather than never).
const RESERVATION_HOLD_MS: i64 = 6 * 3_600_000;

impl Confidential {
    /// The service.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        bank: GasBank,
        fees: Arc<FeeSchedule>,
        clock: SharedClock,
        settings: ConfidentialSettings,
        key: SigningKey,
        fulfilment: SigningKey,
        secrets: Option<Arc<dyn Transport>>,
        replica: String,
        lease: Duration,
    ) -> Result<Self, ConfidentialError> {
        let public_key = hex::encode(
            key.public_key()
                .map_err(|e| ConfidentialError::Database(e.to_string()))?
                .to_compressed(),
        );
        Ok(Self {
            store,
            bank,
            fees,
            clock,
            slots: Arc::new(Semaphore::new(settings.concurrency)),
            settings,
            key,
            public_key,
            fulfilment,
            secrets,
            replica,
            lease_ms: i64::try_from(lease.as_millis())
                .unwrap_or(30_000)
                .max(1_000),
        })
    }

    /// The result key (compressed, hex).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The settings.
    pub fn settings(&self) -> &ConfidentialSettings {
        &self.settings
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// A fresh claim token: this replica and one attempt, so two attempts never share a claim.
    fn claim_token(&self) -> String {
        format!("{}/{}", self.replica, uuid::Uuid::new_v4().simple())
    }

    fn limits(&self, asked: Option<LimitsRequest>) -> Result<Limits, ConfidentialError> {
        let d = self.settings.default_limits;
        let max = self.settings.max_limits;
        let asked = asked.unwrap_or_default();
        let limits = Limits {
            fuel: asked.fuel.unwrap_or(d.fuel),
            memory_bytes: asked.memory_bytes.unwrap_or(d.memory_bytes),
            wall_ms: asked.wall_ms.unwrap_or(d.wall_ms),
            output_bytes: asked.output_bytes.unwrap_or(d.output_bytes),
        };
        let check = |name: &str, value: u64, min: u64, max: u64| {
            if value < min || value > max {
                Err(ConfidentialError::InvalidLimits(format!(
                    "limits.{name} is {min} to {max}, not {value}"
                )))
            } else {
                Ok(())
            }
        };
        check("fuel", limits.fuel, 1_000, max.fuel)?;
        check(
            "memory_bytes",
            limits.memory_bytes,
            1 << 20,
            max.memory_bytes,
        )?;
        check("wall_ms", limits.wall_ms, 10, max.wall_ms)?;
        check("output_bytes", limits.output_bytes, 0, max.output_bytes)?;
        Ok(limits)
    }

    fn code_of(
        &self,
        runtime: &str,
        code: &str,
        encoding: Option<&str>,
    ) -> Result<(Engine, Vec<u8>), ConfidentialError> {
        let engine = Engine::parse(runtime)
            .ok_or_else(|| ConfidentialError::UnknownRuntime(runtime.to_owned()))?;
        if encoding == Some("hex") {
            return Err(ConfidentialError::InvalidCode(
                "code_encoding is text or base64".into(),
            ));
        }
        let bytes = decode(code, encoding, "code").map_err(ConfidentialError::InvalidCode)?;
        if bytes.is_empty() || bytes.len() > self.settings.max_code_bytes {
            return Err(ConfidentialError::InvalidCode(format!(
                "the code is 1 to {} bytes",
                self.settings.max_code_bytes
            )));
        }
        if engine == Engine::Wasm {
            // Refuse what cannot compile before anything is reserved.
            runtime::wasm::module_bytes(&bytes)
                .map_err(|f| ConfidentialError::InvalidCode(f.message))?;
        } else if std::str::from_utf8(&bytes).is_err() {
            return Err(ConfidentialError::InvalidCode(
                "JavaScript is UTF-8 text".into(),
            ));
        }
        Ok((engine, bytes))
    }

    /// Runs (or queues) a job of `owner` (a user id).
    pub async fn execute(
        self: &Arc<Self>,
        owner: &str,
        request: ExecuteRequest,
    ) -> Result<JobView, ConfidentialError> {
        let (engine, code) = self.code_of(
            &request.runtime,
            &request.code,
            request.code_encoding.as_deref(),
        )?;
        let input = decode(
            request.input.as_deref().unwrap_or(""),
            request.input_encoding.as_deref(),
            "input",
        )
        .map_err(ConfidentialError::InvalidInput)?;
        if input.len() > self.settings.max_input_bytes {
            return Err(ConfidentialError::InvalidInput(format!(
                "the input is at most {} bytes",
                self.settings.max_input_bytes
            )));
        }
        let secrets = check_secrets(&request.secrets)?;
        let limits = self.limits(request.limits)?;
        let run_async = request.run_async || limits.wall_ms > self.settings.max_sync_wall_ms;
        if self.store.open_jobs().await? >= self.settings.max_queued {
            return Err(ConfidentialError::Busy);
        }
        let base = self.fees.fee(FEE, 0).unwrap_or(0);
        let reserved = base.saturating_add(self.settings.fuel_fee(limits.fuel));
        let id = uuid::Uuid::new_v4().to_string();
        let reservation = format!("{FEE}:{id}");
        if reserved > 0 {
            self.bank
                .reserve_until(
                    &Owner::User(owner.to_owned()),
                    reserved,
                    &reservation,
                    FEE,
                    self.now() + RESERVATION_HOLD_MS,
                )
                .await?;
        }
        let now = self.now();
        let job = JobRow {
            id: id.clone(),
            owner: owner.to_owned(),
            origin: "http".into(),
            engine: engine.as_str().into(),
            code_hash: hex::encode(neosl_crypto::hash::sha256(&code)),
            code: hex::encode(&code),
            input_hash: hex::encode(neosl_crypto::hash::sha256(&input)),
            input: hex::encode(&input),
            secrets,
            limits,
            state: if run_async { "queued" } else { "running" }.into(),
            attempts: i64::from(!run_async),
            reservation: (reserved > 0).then_some(reservation.clone()),
            fee_reserved: reserved,
            fee_charged: None,
            output: None,
            output_hash: None,
            signature: None,
            fuel_used: None,
            error_code: None,
            error_message: None,
            log: None,
            created_at: now,
            started_at: (!run_async).then_some(now),
            finished_at: None,
        };
        let token = self.claim_token();
        let claim = (!run_async).then(|| (token.as_str(), now + self.lease_ms));
        if let Err(e) = self.store.insert(&job, claim).await {
            if reserved > 0 {
                let _ = self.bank.release(&reservation).await;
            }
            return Err(e);
        }
        if run_async {
            return Ok(self.view(&job));
        }
        let finished = self.process_detached(job, token).await?;
        Ok(self.view(&finished))
    }

    /// Runs a claimed job to its end and records it; answers the row as it ended.
    /// [`Confidential::process`] in a task of its own: a request that goes away (a client
    /// disconnecting, a timeout) does not leave the job half-run.
    async fn process_detached(
        self: &Arc<Self>,
        job: JobRow,
        token: String,
    ) -> Result<JobRow, ConfidentialError> {
        let me = self.clone();
        tokio::spawn(async move { me.process(job, None, &token).await })
            .await
            .map_err(|e| ConfidentialError::Unavailable(format!("the job's task failed: {e}")))?
    }

    /// Runs a job claimed under `token` to its end and records it; answers the row as it
    /// ended. The claim is renewed from the start until the end is written.
    async fn process(
        &self,
        job: JobRow,
        permit: Option<OwnedSemaphorePermit>,
        token: &str,
    ) -> Result<JobRow, ConfidentialError> {
        let _renewing = {
            let store = self.store.clone();
            let (id, token, lease, clock) = (
                job.id.clone(),
                token.to_owned(),
                self.lease_ms,
                self.clock.clone(),
            );
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis((lease / 3).max(100) as u64)).await;
                    if !matches!(
                        store.renew(&id, &token, clock.now_millis() + lease).await,
                        Ok(true)
                    ) {
                        return;
                    }
                }
            }))
        };
        let granted = match self.fetch_secrets(&job).await {
            Ok(granted) => granted,
            Err(refusal) => {
                let finish = Finish {
                    state: "refused",
                    fee_charged: None,
                    output: None,
                    output_hash: None,
                    signature: None,
                    fuel_used: None,
                    error_code: Some(refusal.code.clone()),
                    error_message: Some(refusal.message),
                    log: None,
                };
                return self.finish(&job, token, &finish).await;
            }
        };
        let engine = Engine::parse(&job.engine).unwrap_or(Engine::Js);
        let code =
            hex::decode(&job.code).map_err(|e| ConfidentialError::Database(e.to_string()))?;
        let input =
            hex::decode(&job.input).map_err(|e| ConfidentialError::Database(e.to_string()))?;
        let limits = job.limits;
        let permit = match permit {
            Some(permit) => permit,
            None => self
                .slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| ConfidentialError::Unavailable("shutting down".into()))?,
        };
        let run = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            runtime::execute(
                engine,
                &runtime::Run {
                    code: &code,
                    input: &input,
                    secrets: &granted,
                    limits,
                },
            )
        })
        .await;
        let outcome = match run {
            Ok(outcome) => outcome,
            Err(join) => {
                tracing::error!(job = job.id, error = %join, "a confidential run crashed");
                let finish = Finish {
                    state: "failed",
                    fee_charged: None,
                    output: None,
                    output_hash: None,
                    signature: None,
                    fuel_used: None,
                    error_code: Some("platform_error".into()),
                    error_message: Some(
                        "the platform failed running the job; nothing was charged".into(),
                    ),
                    log: None,
                };
                return self.finish(&job, token, &finish).await;
            }
        };
        let fuel = i64::try_from(outcome.fuel_used).unwrap_or(i64::MAX);
        let charge = (job.fee_reserved > 0).then(|| {
            let base = self
                .fees
                .fee(
                    if job.origin == "http" {
                        FEE
                    } else {
                        ONCHAIN_FEE
                    },
                    0,
                )
                .unwrap_or(0);
            base.saturating_add(self.settings.fuel_fee(outcome.fuel_used))
                .min(job.fee_reserved)
        });
        let log = (!outcome.log.is_empty()).then_some(outcome.log);
        let finish = match outcome.result {
            Ok(output) => {
                let output_hash = neosl_crypto::hash::sha256(&output);
                let signature = self.sign(&job, &output_hash)?;
                Finish {
                    state: "succeeded",
                    fee_charged: charge,
                    output: Some(hex::encode(&output)),
                    output_hash: Some(hex::encode(output_hash)),
                    signature: Some(hex::encode(signature)),
                    fuel_used: Some(fuel),
                    error_code: None,
                    error_message: None,
                    log,
                }
            }
            Err(Failure { code, message }) => Finish {
                state: "failed",
                // The platform's failure costs nothing; a program's own is charged.
                fee_charged: charge.filter(|_| code != FailureCode::PlatformError),
                output: None,
                output_hash: None,
                signature: None,
                fuel_used: Some(fuel),
                error_code: Some(code.as_str().into()),
                error_message: Some(message),
                log,
            },
        };
        self.finish(&job, token, &finish).await
    }

    fn attestation(&self, job: &JobRow, output_hash: [u8; 32]) -> Attestation {
        Attestation {
            engine: job.engine.clone(),
            code_hash: digest_of(&job.code_hash),
            input_hash: digest_of(&job.input_hash),
            secrets_hash: wire::secrets_hash(&job.secrets),
            output_hash,
        }
    }

    fn sign(&self, job: &JobRow, output_hash: &[u8; 32]) -> Result<[u8; 64], ConfidentialError> {
        self.key
            .sign(&self.attestation(job, *output_hash).message())
            .map(|s| s.to_bytes())
            .map_err(|e| ConfidentialError::Database(e.to_string()))
    }

    /// Writes the end and settles the fee in one transaction (if this attempt still holds the
    /// job; otherwise the row as it is). A reservation already released (the job outlived the
    /// hold) ends the job uncharged instead of never.
    async fn finish(
        &self,
        job: &JobRow,
        token: &str,
        finish: &Finish,
    ) -> Result<JobRow, ConfidentialError> {
        match self.finish_once(job, token, finish, true).await {
            Err(ConfidentialError::Bank(neosl_gasbank::GasBankError::ReservationSettled {
                ..
            })) => {
                tracing::warn!(
                    job = job.id,
                    "the job's reservation was released before it ended; recorded uncharged"
                );
                let uncharged = Finish {
                    fee_charged: None,
                    ..finish.clone()
                };
                self.finish_once(job, token, &uncharged, false).await
            }
            other => other,
        }
    }

    async fn finish_once(
        &self,
        job: &JobRow,
        token: &str,
        finish: &Finish,
        settle: bool,
    ) -> Result<JobRow, ConfidentialError> {
        let mut tx = self.store.database().pool().begin().await?;
        let written = Store::finish_in(&mut tx, &job.id, token, finish, self.now()).await?;
        if written
            && settle
            && let Some(reference) = &job.reservation
        {
            self.bank
                .settle_in(&mut tx, reference, finish.fee_charged)
                .await?;
        }
        tx.commit().await?;
        if !written {
            tracing::warn!(
                job = job.id,
                "a job's claim lapsed while it ran; its end is another attempt's"
            );
        }
        self.store
            .get(&job.id)
            .await?
            .ok_or(ConfidentialError::UnknownJob)
    }

    async fn fetch_secrets(&self, job: &JobRow) -> Result<Vec<Secret>, JobError> {
        if job.secrets.is_empty() {
            return Ok(Vec::new());
        }
        let owner = job.owner.clone();
        let transport = self.secrets.as_ref().ok_or_else(|| JobError {
            code: "secrets_unavailable".into(),
            message: "the Secrets service is not reachable from here".into(),
        })?;
        let answer: UseAnswer = neosl_api::call(
            transport.as_ref(),
            neosl_api::Method::POST,
            neosl_api::secrets::USE_PATH,
            Some(&UseRequest {
                owner,
                names: job.secrets.clone(),
                purpose: format!("confidential job {}", job.id),
            }),
        )
        .await
        .map_err(|e| match e {
            neosl_api::TransportError::Api { code, message, .. } => JobError { code, message },
            other => JobError {
                code: "secrets_unavailable".into(),
                message: other.to_string(),
            },
        })?;
        Ok(answer
            .secrets
            .into_iter()
            .map(|s| Secret {
                name: s.name.clone(),
                value: Zeroizing::new(s.value.as_str().to_owned()),
            })
            .collect())
    }

    /// A job of `owner`.
    pub async fn job(&self, owner: &str, id: &str) -> Result<JobView, ConfidentialError> {
        match self.store.get(id).await? {
            Some(job) if job.owner == owner => Ok(self.view(&job)),
            _ => Err(ConfidentialError::UnknownJob),
        }
    }

    /// The owner's jobs, newest first.
    pub async fn jobs(
        &self,
        owner: &str,
        state: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<JobView>, ConfidentialError> {
        if !(1..=100).contains(&limit) {
            return Err(ConfidentialError::InvalidQuery("limit is 1 to 100".into()));
        }
        if let Some(state) = state
            && !["queued", "running", "succeeded", "failed", "refused"].contains(&state)
        {
            return Err(ConfidentialError::InvalidQuery(format!(
                "state is queued, running, succeeded, failed or refused, not {state:?}"
            )));
        }
        Ok(self
            .store
            .list(owner, state, before, limit)
            .await?
            .iter()
            .map(|j| self.view(j))
            .collect())
    }

    /// What the owner sees of a job.
    pub fn view(&self, job: &JobRow) -> JobView {
        let output = job.output.as_deref().and_then(|h| hex::decode(h).ok());
        let signed_message = job.output_hash.as_deref().and_then(|h| {
            let bytes: [u8; 32] = hex::decode(h).ok()?.try_into().ok()?;
            Some(hex::encode(self.attestation(job, bytes).message()))
        });
        JobView {
            id: job.id.clone(),
            state: job.state.clone(),
            runtime: job.engine.clone(),
            code_hash: job.code_hash.clone(),
            input_hash: job.input_hash.clone(),
            secrets: job.secrets.clone(),
            secrets_hash: hex::encode(wire::secrets_hash(&job.secrets)),
            output: output
                .as_ref()
                .and_then(|o| String::from_utf8(o.clone()).ok()),
            output_hex: job.output.clone(),
            output_hash: job.output_hash.clone(),
            fuel_used: job.fuel_used,
            limits: job.limits,
            signed_message: job.signature.as_ref().and(signed_message),
            signature: job.signature.clone(),
            public_key: self.public_key.clone(),
            error: job.error_code.as_ref().map(|code| JobError {
                code: code.clone(),
                message: job.error_message.clone().unwrap_or_default(),
            }),
            log: job.log.clone(),
            fee: JobFee {
                reserved: job.fee_reserved,
                charged: job.fee_charged,
            },
            created_at: job.created_at,
            finished_at: job.finished_at,
        }
    }

    /// Records code a contract may run by its upload id.
    pub async fn upload(
        &self,
        owner: &str,
        upload: CodeUpload,
    ) -> Result<CodeView, ConfidentialError> {
        let (engine, code) = self.code_of(
            &upload.runtime,
            &upload.code,
            upload.code_encoding.as_deref(),
        )?;
        let secrets = check_secrets(&upload.secrets)?;
        if upload.allowed_contracts.is_empty() || upload.allowed_contracts.len() > 16 {
            return Err(ConfidentialError::InvalidContract(
                "allowed_contracts names 1 to 16 contracts".into(),
            ));
        }
        let mut allowed = Vec::with_capacity(upload.allowed_contracts.len());
        for contract in &upload.allowed_contracts {
            let hash = neosl_neo::UInt160::parse_display(contract)
                .map_err(|_| ConfidentialError::InvalidContract(contract.clone()))?;
            allowed.push(hash.to_string());
        }
        let code_hash = hex::encode(neosl_crypto::hash::sha256(&code));
        let row = CodeRow {
            upload_id: wire::upload_id(owner, &code_hash),
            owner: owner.to_owned(),
            code_hash,
            engine: engine.as_str().into(),
            code: hex::encode(&code),
            secrets,
            allowed_contracts: allowed,
            limits: self.settings.onchain_limits,
            created_at: self.now(),
        };
        self.store.put_code(&row).await?;
        Ok(row)
    }

    /// The owner's uploaded code.
    pub async fn uploads(&self, owner: &str) -> Result<Vec<CodeView>, ConfidentialError> {
        self.store.code_of(owner).await
    }

    /// Serves a contract's request: runs the uploaded code the payload names (if the requester
    /// may), answers the result and the fulfilment signature. A request served again (the
    /// worker retried) answers the recorded result.
    pub async fn fulfil(
        self: &Arc<Self>,
        request: &FulfilRequest,
    ) -> Result<FulfilAnswer, ConfidentialError> {
        let gateway = neosl_neo::UInt160::parse_display(&request.gateway)
            .map_err(|_| ConfidentialError::InvalidContract(request.gateway.clone()))?;
        let requester = neosl_neo::UInt160::parse_display(&request.requester)
            .map_err(|_| ConfidentialError::InvalidContract(request.requester.clone()))?;
        let id = format!(
            "onchain-{}-{}-{}",
            request.network, gateway, request.request_id
        );
        let job = match self.store.get(&id).await? {
            Some(job) if !matches!(job.state.as_str(), "queued" | "running") => job,
            _ => self.run_onchain(&id, request, &requester).await?,
        };
        let (success, result) = match (&job.state[..], &job.output, &job.signature) {
            ("succeeded", Some(output), Some(signature)) => {
                let result = wire::ComputeResult {
                    code_hash: digest_of(&job.code_hash),
                    input_hash: digest_of(&job.input_hash),
                    secrets_hash: wire::secrets_hash(&job.secrets),
                    output: hex::decode(output).unwrap_or_default(),
                    signature: hex::decode(signature).unwrap_or_default(),
                }
                .to_bytes()
                .map_err(|e| ConfidentialError::Database(e.to_string()))?;
                (true, result)
            }
            _ => (
                false,
                job.error_code
                    .clone()
                    .unwrap_or_else(|| "failed".into())
                    .into_bytes(),
            ),
        };
        let message = neosl_contracts::gateway::fulfilment_message(
            request.network,
            &gateway,
            request.request_id,
            success,
            &result,
        );
        let signature = self
            .fulfilment
            .sign(&message)
            .map_err(|e| ConfidentialError::Database(e.to_string()))?;
        Ok(FulfilAnswer {
            success,
            result: hex::encode(result),
            signature: hex::encode(signature.to_bytes()),
        })
    }

    async fn run_onchain(
        self: &Arc<Self>,
        id: &str,
        request: &FulfilRequest,
        requester: &neosl_neo::UInt160,
    ) -> Result<JobRow, ConfidentialError> {
        let payload = hex::decode(&request.payload)
            .ok()
            .and_then(|p| wire::ComputePayload::from_bytes(&p).ok());
        let now = self.now();
        let refused = |code: &str, message: String| JobRow {
            id: id.to_owned(),
            owner: format!("contract:{requester}"),
            origin: format!("onchain:{}", request.request_id),
            engine: String::new(),
            code_hash: String::new(),
            code: String::new(),
            input: String::new(),
            input_hash: String::new(),
            secrets: Vec::new(),
            limits: self.settings.onchain_limits,
            state: "refused".into(),
            attempts: 0,
            reservation: None,
            fee_reserved: 0,
            fee_charged: None,
            output: None,
            output_hash: None,
            signature: None,
            fuel_used: None,
            error_code: Some(code.to_owned()),
            error_message: Some(message),
            log: None,
            created_at: now,
            started_at: None,
            finished_at: Some(now),
        };
        let Some(payload) = payload else {
            return Ok(refused(
                "invalid_payload",
                "the payload is the code's 32-byte hash, then the input".into(),
            ));
        };
        if payload.input.len() > self.settings.max_input_bytes {
            return Ok(refused("invalid_input", "the input is too large".into()));
        }
        let upload_id = hex::encode(payload.code_hash);
        let requester_text = requester.to_string();
        let upload = self
            .store
            .code_by_upload(&upload_id)
            .await?
            .filter(|c| c.allowed_contracts.contains(&requester_text));
        let Some(upload) = upload else {
            return Ok(refused(
                "unknown_code",
                format!("no upload {upload_id} that {requester_text} may run"),
            ));
        };
        let code_hash = upload.code_hash.clone();
        let job = JobRow {
            id: id.to_owned(),
            // The uploader's secrets are the ones granted; the contract pays through the
            // on-chain fee.
            owner: upload.owner.clone(),
            origin: format!("onchain:{}", request.request_id),
            engine: upload.engine.clone(),
            code_hash,
            code: upload.code.clone(),
            input_hash: hex::encode(neosl_crypto::hash::sha256(&payload.input)),
            input: hex::encode(&payload.input),
            secrets: upload.secrets.clone(),
            limits: upload.limits,
            state: "running".into(),
            attempts: 1,
            reservation: None,
            fee_reserved: 0,
            fee_charged: None,
            output: None,
            output_hash: None,
            signature: None,
            fuel_used: None,
            error_code: None,
            error_message: None,
            log: None,
            created_at: now,
            started_at: Some(now),
            finished_at: None,
        };
        match self.store.get(id).await? {
            // Another attempt is running it under a live claim: wait for it by failing this
            // round (the worker asks again).
            Some(existing) if existing.state == "running" => Err(ConfidentialError::Unavailable(
                format!("request {} is being computed", existing.origin),
            )),
            Some(existing) => Ok(existing),
            None => {
                let token = self.claim_token();
                self.store
                    .insert(&job, Some((&token, now + self.lease_ms)))
                    .await?;
                self.process_detached(job, token).await
            }
        }
    }

    /// Claims and runs queued jobs (and jobs whose replica died) until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let tick = Duration::from_millis(self.settings.tick_ms.max(20));
        loop {
            while let Ok(permit) = self.slots.clone().try_acquire_owned() {
                let now = self.now();
                let token = self.claim_token();
                match self
                    .store
                    .claim_next(&token, now, now + self.lease_ms)
                    .await
                {
                    Ok(Some(job)) => {
                        let me = self.clone();
                        // The job is a row with a state: if this task dies, its claim lapses
                        // and the job runs again.
                        tokio::spawn(async move {
                            if let Err(error) = me.process(job, Some(permit), &token).await {
                                tracing::warn!(%error, "a confidential job could not be finished");
                            }
                        });
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "claiming confidential jobs failed");
                        break;
                    }
                }
            }
            if neosl_runtime::service::pause(tick, &mut shutdown).await {
                return;
            }
        }
    }
}
