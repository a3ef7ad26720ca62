//! The services of this build, in start-up order (the services others call first; the
//! gateway, which routes to the public ones, last). Adding a service is one line here.

use std::sync::Arc;

use neosl_runtime::Registry;

/// Services the platform plans that this build does not have yet: their gateway prefixes
/// answer `503 service_not_deployed`. A service leaves this list when its line is added below.
pub const PLANNED: &[&str] = &[];

/// Every service of this build.
pub fn registry() -> Registry {
    Registry::new(
        vec![
            Arc::new(neosl_secrets::Definition),
            Arc::new(neosl_vrf::Definition),
            Arc::new(neosl_datafeeds::Definition),
            Arc::new(neosl_accountpool::Definition),
            Arc::new(neosl_automation::Definition),
            Arc::new(neosl_mixer::Definition),
            Arc::new(neosl_confidential::Definition),
            Arc::new(neosl_onchain::Definition),
            Arc::new(neosl_gateway::Definition),
        ],
        PLANNED.to_vec(),
    )
}
