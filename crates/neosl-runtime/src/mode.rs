//! Enclave or simulation: always explicit, never guessed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeMode {
    /// Inside an SGX enclave under MarbleRun: secrets and certificates are injected by the
    /// coordinator; a missing one is a start-up error; identity is strict.
    Enclave,
    /// On a developer's machine: nothing is attested, development secrets may be generated.
    Simulation,
}

impl RuntimeMode {
    /// The mode from `OE_SIMULATION` (`1` means simulation) unless configuration chose one.
    pub fn resolve(configured: Option<RuntimeMode>) -> Self {
        if let Some(mode) = configured {
            return mode;
        }
        match std::env::var("OE_SIMULATION").as_deref() {
            Ok("0") => Self::Enclave,
            _ => Self::Simulation,
        }
    }

    /// Whether this is simulation mode.
    pub fn is_simulation(self) -> bool {
        self == Self::Simulation
    }
}

impl fmt::Display for RuntimeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enclave => "enclave",
            Self::Simulation => "simulation",
        })
    }
}
