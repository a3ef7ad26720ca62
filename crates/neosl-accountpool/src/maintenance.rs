//! Keeping the pool: creating accounts (public parts only, derived on all cores), filling to the
//! target, sweeping expired locks, rotation and retirement.

use neosl_crypto::{MasterKey, kdf};
use neosl_neo::script::verification_script;
use neosl_neo::{Address, UInt160, native};
use num_bigint::BigInt;

use crate::balances::chain_failure;
use crate::error::Failure;
use crate::service::*;
use crate::store::NewAccount;

impl AccountPool {
    /// Creates `count` accounts (in batches), deriving their public keys on all cores.
    pub async fn create_accounts(&self, count: usize) -> Result<usize, Failure> {
        let tokens = [
            ("GAS", native::GAS.to_string()),
            ("NEO", native::NEO.to_string()),
        ];
        let mut created = 0;
        while created < count {
            let batch = (count - created).min(self.config.fill_batch.max(1));
            let master = self.master.clone();
            let accounts = tokio::task::spawn_blocking(move || derive_batch(&master, batch))
                .await
                .map_err(Failure::internal)??;
            self.store
                .insert_accounts(&accounts, &tokens, self.clock.now_millis())
                .await?;
            created += batch;
            if count > self.config.fill_batch {
                tracing::info!(created, of = count, "filling the account pool");
            }
        }
        Ok(created)
    }

    /// Tops the active pool up to its target size. Returns how many accounts were created.
    pub async fn fill_to_target(&self) -> Result<usize, Failure> {
        let _guard = self.store.fill_lock().await?;
        let active = self.store.count_active().await? as u32;
        let total = self.store.count_all().await? as u32;
        let wanted = self
            .config
            .target_size
            .saturating_sub(active)
            .min(self.config.max_size.saturating_sub(total));
        if wanted == 0 {
            return Ok(0);
        }
        self.create_accounts(wanted as usize).await
    }

    /// Frees accounts whose locks expired.
    pub async fn sweep(&self) -> Result<u64, Failure> {
        let freed = self.store.sweep_expired(self.clock.now_millis()).await?;
        if freed > 0 {
            tracing::info!(freed, "expired locks released");
        }
        Ok(freed)
    }

    /// Rotation, once per interval across all replicas: up to `rotation_percent` of the active,
    /// unlocked accounts older than the minimum age become retiring; the pool is then topped up.
    pub async fn rotate_if_due(&self) -> Result<u64, Failure> {
        let now = self.clock.now_millis();
        let last = self.store.meta("last_rotation").await?;
        let last_ms = last
            .as_deref()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        if now - last_ms < self.config.rotation_interval.as_millis() as i64 {
            return Ok(0);
        }
        if !self
            .store
            .claim_meta("last_rotation", last.as_deref(), &now.to_string())
            .await?
        {
            return Ok(0); // another replica rotates
        }
        let active = self.store.count_active().await?;
        let limit = active * self.config.rotation_percent as i64 / 100;
        let cutoff = now - self.config.rotation_min_age.as_millis() as i64;
        let marked = self.store.mark_retiring(cutoff, limit, now).await?;
        tracing::info!(marked, "rotation: accounts marked retiring");
        self.fill_to_target().await?;
        Ok(marked)
    }

    /// Retiring accounts whose on-chain balances are all zero become retired.
    pub async fn retire_drained(&self) -> Result<u64, Failure> {
        let Some(chain) = &self.chain else {
            return Ok(0);
        };
        let mut retired = 0;
        for account in self.store.retiring(200).await? {
            let hash = UInt160::parse_display(&account.script_hash).map_err(Failure::internal)?;
            let balances = chain
                .rpc
                .get_nep17_balances(&hash)
                .await
                .map_err(chain_failure)?;
            if balances
                .balances
                .iter()
                .all(|b| b.amount == BigInt::from(0))
            {
                self.store
                    .mark_retired(&account.id, self.clock.now_millis())
                    .await?;
                retired += 1;
            }
        }
        Ok(retired)
    }
}

/// Derives the public parts of a new account.
pub fn new_account(master: &MasterKey, id: String) -> Result<NewAccount, Failure> {
    let key = kdf::derive_pool_account_key(master, &id)
        .map_err(Failure::internal)?
        .public_key();
    let hash = UInt160::of_script(&verification_script(&key));
    Ok(NewAccount {
        id,
        address: Address::from_script_hash(hash).to_string(),
        script_hash: hash.to_string(),
        public_key: key.to_string(),
    })
}

fn derive_batch(master: &MasterKey, count: usize) -> Result<Vec<NewAccount>, Failure> {
    let ids: Vec<String> = (0..count)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let derived = on_all_cores(&ids, |part| {
        part.iter()
            .map(|id| new_account(master, id.clone()))
            .collect()
    });
    if derived.len() != count {
        return Err(Failure::Internal("a derivation thread panicked".into()));
    }
    derived.into_iter().collect()
}
