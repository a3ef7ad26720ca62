//! Deploying the platform's contracts and the owner's administration of the gateway: used by
//! `neosl contracts deploy`, `neosl devnet` and the tests.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use neosl_chain::signer::TxSigner;
use neosl_chain::submit::Submitter;
use neosl_contracts::{
    AUTOMATION_SERVICE, CONFIDENTIAL_SERVICE, DATAFEEDS_SERVICE, EXAMPLE_CONSUMER, GATEWAY,
    MIXER_SERVICE, VRF_SERVICE,
};
use neosl_neo::param::ContractParameter as P;

pub use neosl_contracts::Deployed;
pub use neosl_onchain::admin::{
    call_as, ensure_tee_account, ensure_tee_key, is_tee_account, read, service_keys,
};

/// Writes `deployed` to `dir/contracts.json` (what `neosl serve` reads).
pub fn save(deployed: &Deployed, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(Deployed::FILE);
    std::fs::write(&path, serde_json::to_vec_pretty(deployed)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads `dir/contracts.json`, if there is one.
pub fn load(dir: &Path) -> Result<Option<Deployed>> {
    match std::fs::read(dir.join(Deployed::FILE)) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!("reading {}", dir.join(Deployed::FILE).display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// How long the Mixer's operator waits between announcing a bond withdrawal and making it, on
/// a production chain: longer than the longest mix window plus two graces (7 + 7 + 7 days), so
/// every user whose request was accepted before the announcement can dispute and claim first.
pub const MIXER_WITHDRAW_DELAY_MS: i64 = 22 * 24 * 3_600_000;

/// Deploys the gateway (owned by `owner`), the service contracts (VRF, DataFeeds, Automation,
/// Mixer — its bond withdrawable `mixer_withdraw_delay_ms` after announcing) and the example
/// consumer, and registers the services with the gateway.
pub async fn deploy(
    submitter: &Submitter,
    owner: Arc<dyn TxSigner>,
    mixer_withdraw_delay_ms: i64,
) -> Result<Deployed> {
    let deployed_at = submitter.rpc().get_block_count().await?.saturating_sub(1);
    let deploy = |contract: neosl_contracts::Contract, data: P| {
        let owner = owner.clone();
        async move {
            neosl_devnet::deploy_contract_with(
                submitter,
                owner,
                contract.nef,
                contract.manifest,
                Some(data),
            )
            .await
            .with_context(|| format!("deploying {}", contract.name))
        }
    };
    let gateway = deploy(GATEWAY, P::Hash160(owner.account())).await?;
    let vrf_service = deploy(VRF_SERVICE, P::Hash160(gateway)).await?;
    let datafeeds_service = deploy(DATAFEEDS_SERVICE, P::Hash160(gateway)).await?;
    let automation_service = deploy(AUTOMATION_SERVICE, P::Hash160(gateway)).await?;
    let mixer_service = deploy(
        MIXER_SERVICE,
        P::Array(vec![
            P::Hash160(owner.account()),
            P::Integer(mixer_withdraw_delay_ms.into()),
        ]),
    )
    .await?;
    let confidential_service = deploy(CONFIDENTIAL_SERVICE, P::Hash160(gateway)).await?;
    let example_consumer = deploy(EXAMPLE_CONSUMER, P::Hash160(gateway)).await?;
    for (service_id, contract) in [
        (neosl_contracts::vrf::SERVICE_ID, vrf_service),
        (neosl_contracts::datafeeds::SERVICE_ID, datafeeds_service),
        (neosl_contracts::AUTOMATION_SERVICE_ID, automation_service),
        (
            neosl_contracts::confidential::SERVICE_ID,
            confidential_service,
        ),
    ] {
        call_as(
            submitter,
            owner.clone(),
            &gateway,
            "registerService",
            &[P::String(service_id.into()), P::Hash160(contract)],
        )
        .await?;
    }
    Ok(Deployed {
        network: submitter.network(),
        deployed_at,
        gateway,
        vrf_service,
        example_consumer,
        datafeeds_service,
        automation_service,
        mixer_service,
        confidential_service,
    })
}
