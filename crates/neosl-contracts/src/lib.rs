//! The platform's Neo contracts, built once and committed (`contracts/<name>/build/`), so that
//! deploying needs no Python; a test recompiles them with the pinned neo3-boa and proves the
//! committed bytes are what the sources give. Pure: no I/O, no async.
//!
//! - [`gateway`]: the `ServiceLayerGateway` — request statuses, the fulfilment message its
//!   TEE keys sign, the `fulfillRequest` call, reading `getRequest`.
//! - [`vrf`]: the `VRFService` payload and the result delivered to callbacks.

pub mod gateway;
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
/// The consumer a dApp developer copies.
pub const EXAMPLE_CONSUMER: Contract = built!("ExampleConsumer", "example_consumer");

/// Every contract the platform deploys, in deployment order.
pub const ALL: [Contract; 3] = [GATEWAY, VRF_SERVICE, EXAMPLE_CONSUMER];
