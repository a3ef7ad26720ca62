//! The platform's Neo contracts, built once and committed (`contracts/<name>/build/`), so that
//! deploying needs no Python; a test recompiles them with the pinned neo3-boa and proves the
//! committed bytes are what the sources give. Pure: no I/O, no async.
//!
//! - [`gateway`]: the `ServiceLayerGateway` — request statuses, the fulfilment message its
//!   TEE keys sign, the `fulfillRequest` call, reading `getRequest`.
//! - [`vrf`]: the `VRFService` payload and the result delivered to callbacks.
//! - [`datafeeds`]: the `DataFeedsService` update message and `updatePrices` arguments.
//! - [`mixer`]: the `MixerService` request bytes, the messages the Mixer signs, `txidsHash`.
//! - [`confidential`]: the message over every confidential result, the payload a contract sends
//!   and the result its callback receives.
//!
//! `AutomationService` needs no wire format of its own: its payload is the trigger's JSON.

pub mod confidential;
pub mod datafeeds;
pub mod gateway;
pub mod mixer;
pub mod vrf;

/// A built contract.
#[derive(Debug, Clone, Copy)]
pub struct Contract {
    /// Its manifest name.
    pub name: &'static str,
    /// The directory under `contracts/`.
    pub source: &'static str,
    /// The `.nef` file.
    pub nef: &'static [u8],
    /// The manifest, in its canonical form (events sorted by name, compact JSON).
    pub manifest: &'static str,
}

impl Contract {
    /// The NEF's checksum (its last four bytes, little-endian): with the deployer and the name
    /// it fixes the contract's hash.
    pub fn checksum(&self) -> u32 {
        let n = self.nef.len();
        match self.nef.get(n.saturating_sub(4)..) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    /// The hash `deployer` gives it.
    pub fn hash_for(&self, deployer: &neosl_neo::UInt160) -> neosl_neo::UInt160 {
        neosl_neo::native::contract_hash(deployer, self.checksum(), self.name)
    }
}

macro_rules! built {
    ($name:literal, $dir:literal) => {
        Contract {
            name: $name,
            source: $dir,
            nef: include_bytes!(concat!(
                "../../../contracts/",
                $dir,
                "/build/",
                $dir,
                ".nef"
            )),
            manifest: include_str!(concat!(
                "../../../contracts/",
                $dir,
                "/build/",
                $dir,
                ".manifest.json"
            )),
        }
    };
}

/// The one entry point for contracts.
pub const GATEWAY: Contract = built!("ServiceLayerGateway", "service_layer_gateway");
/// The VRF service's contract.
pub const VRF_SERVICE: Contract = built!("VRFService", "vrf_service");
/// The DataFeeds service's contract.
pub const DATAFEEDS_SERVICE: Contract = built!("DataFeedsService", "datafeeds_service");
/// The service id the gateway contract knows Automation by.
pub const AUTOMATION_SERVICE_ID: &str = "automation";

/// The Automation service's contract.
pub const AUTOMATION_SERVICE: Contract = built!("AutomationService", "automation_service");
/// The Mixer's bond and dispute contract.
pub const MIXER_SERVICE: Contract = built!("MixerService", "mixer_service");
/// Confidential compute's contract.
pub const CONFIDENTIAL_SERVICE: Contract = built!("ConfidentialService", "confidential_service");
/// The consumer a dApp developer copies.
pub const EXAMPLE_CONSUMER: Contract = built!("ExampleConsumer", "example_consumer");

/// Every contract the platform deploys, in deployment order.
pub const ALL: [Contract; 7] = [
    GATEWAY,
    VRF_SERVICE,
    DATAFEEDS_SERVICE,
    AUTOMATION_SERVICE,
    MIXER_SERVICE,
    CONFIDENTIAL_SERVICE,
    EXAMPLE_CONSUMER,
];

/// Where the platform's contracts are on one network (kept as `contracts.json` in the data
/// directory by `neosl devnet` and `neosl contracts deploy`; `neosl serve` reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Deployed {
    /// The network magic.
    pub network: u32,
    /// The height before the deployment: the on-chain worker reads events from here.
    #[serde(default)]
    pub deployed_at: u32,
    /// `ServiceLayerGateway`.
    pub gateway: neosl_neo::UInt160,
    /// `VRFService`.
    pub vrf_service: neosl_neo::UInt160,
    /// `ExampleConsumer`.
    pub example_consumer: neosl_neo::UInt160,
    /// `DataFeedsService` (zero in a `contracts.json` written before it existed).
    #[serde(default)]
    pub datafeeds_service: neosl_neo::UInt160,
    /// `AutomationService` (zero in an older `contracts.json`).
    #[serde(default)]
    pub automation_service: neosl_neo::UInt160,
    /// `MixerService` (zero in an older `contracts.json`).
    #[serde(default)]
    pub mixer_service: neosl_neo::UInt160,
    /// `ConfidentialService` (zero in an older `contracts.json`).
    #[serde(default)]
    pub confidential_service: neosl_neo::UInt160,
}

impl Deployed {
    /// The name of the file in the data directory.
    pub const FILE: &'static str = "contracts.json";

    /// Each contract's name and hash.
    pub fn list(&self) -> [(&'static str, neosl_neo::UInt160); 7] {
        [
            (GATEWAY.name, self.gateway),
            (VRF_SERVICE.name, self.vrf_service),
            (DATAFEEDS_SERVICE.name, self.datafeeds_service),
            (AUTOMATION_SERVICE.name, self.automation_service),
            (MIXER_SERVICE.name, self.mixer_service),
            (CONFIDENTIAL_SERVICE.name, self.confidential_service),
            (EXAMPLE_CONSUMER.name, self.example_consumer),
        ]
    }
}
