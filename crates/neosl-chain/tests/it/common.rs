use std::sync::Arc;
use std::time::Duration;

use neosl_chain::signer::{LocalKeySigner, TxSigner};
use neosl_crypto::SecretKey;
use neosl_devnet::{Devnet, DevnetConfig};
use neosl_testkit::TempDir;

/// A running devnet with its data directory (removed when dropped, after the node stops).
pub struct TestChain {
    pub devnet: Devnet,
    _dir: TempDir,
}

pub async fn start_chain(persistent: bool) -> TestChain {
    let dir = TempDir::new("neosl-devnet").expect("temp dir");
    let mut config = DevnetConfig::new(dir.path());
    config.cache_dir = neosl_testkit::tools_dir().join("neogo");
    config.block_time = Duration::from_millis(250);
    config.persistent = persistent;
    let devnet = Devnet::start(config).await.expect("the devnet starts");
    TestChain { devnet, _dir: dir }
}

pub fn new_account() -> Arc<LocalKeySigner> {
    Arc::new(LocalKeySigner::new(SecretKey::generate()))
}

pub fn as_signer(key: &Arc<LocalKeySigner>) -> Arc<dyn TxSigner> {
    key.clone()
}

pub const GAS: i64 = 100_000_000;

/// A TCP proxy in front of the node whose connections a test can cut (as a network failure or a
/// killed stream would), while it keeps accepting new ones.
pub struct CuttableProxy {
    pub url: String,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CuttableProxy {
    pub async fn start(upstream_url: &str) -> Self {
        let upstream = upstream_url.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(generation);
        let gen_for_accept = generation.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let mut cut = gen_for_accept.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            url,
            generation,
            accept,
        }
    }

    /// Drops every open connection.
    pub fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
