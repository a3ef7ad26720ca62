//! `neosl dev-certs`: a local CA and one certificate per service, for mutual TLS without
//! MarbleRun (`neosl serve --tls-dir DIR`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use neosl_runtime::certs::{DevCa, Validity};

#[derive(Debug, Args)]
pub struct DevCertsArgs {
    /// Where to write the PEM files.
    #[arg(long, default_value = ".neosl/tls")]
    out: PathBuf,
    /// Extra client identities to issue (for example `mixer,automation`).
    #[arg(long, value_delimiter = ',')]
    clients: Vec<String>,
}

pub fn run(args: DevCertsArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let ca = DevCa::generate("Neo Service Layer development CA")?;
    write(&args.out.join("ca.pem"), ca.cert_pem().as_bytes(), 0o644)?;
    write(&args.out.join("ca-key.pem"), ca.key_pem().as_bytes(), 0o600)?;
    let names: Vec<String> = neosl::registry()
        .names()
        .into_iter()
        .map(str::to_owned)
        .chain(args.clients.iter().cloned())
        .collect();
    for name in &names {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            anyhow::bail!("identity names are lowercase letters, digits and '-': {name:?}");
        }
        let pair = ca.issue(name, Validity::Current)?;
        write(
            &args.out.join(format!("{name}.pem")),
            pair.cert_pem.as_bytes(),
            0o644,
        )?;
        write(
            &args.out.join(format!("{name}-key.pem")),
            pair.key_pem.as_bytes(),
            0o600,
        )?;
    }
    println!(
        "wrote a CA and certificates for {} to {}",
        names.join(", "),
        args.out.display()
    );
    println!(
        "serve over mutual TLS:  neosl serve --tls-dir {}",
        args.out.display()
    );
    Ok(())
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    Ok(())
}
