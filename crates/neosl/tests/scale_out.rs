//! Rate limits across replicas: three `neosl serve` replicas behind a loopback load balancer
//! (round robin per connection). With buckets in memory each replica allows the burst, three
//! times the limit in total; with buckets in the shared PostgreSQL or in Redis the limit holds
//! in total. On one PostgreSQL, every job that must run once (the AccountPool's maintenance, the
//! reservation and bucket sweepers) runs on one replica, not three.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use neosl_testkit::TempDir;

const BURST: usize = 10;

/// A TCP load balancer on 127.0.0.1: each connection goes to the next backend in turn.
async fn balancer(backends: Vec<String>) -> (String, Arc<Vec<AtomicUsize>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counts = Arc::new(
        (0..backends.len())
            .map(|_| AtomicUsize::new(0))
            .collect::<Vec<_>>(),
    );
    let seen = counts.clone();
    tokio::spawn(async move {
        let mut next = 0usize;
        while let Ok((mut client, _)) = listener.accept().await {
            let i = next % backends.len();
            next += 1;
            seen[i].fetch_add(1, Ordering::SeqCst);
            let backend = backends[i].clone();
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(&backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (format!("http://{addr}"), counts)
}

/// Jobs that must run on one replica at a time.
const SINGLETONS: [&str; 3] = [
    "accountpool:maintenance",
    "gateway:reservation-sweeper",
    "gateway:rate-bucket-sweeper",
];

/// How many of the replicas' logs say they ran `job`.
fn runners(logs: &[String], job: &str) -> usize {
    logs.iter()
        .filter(|log| {
            log.lines()
                .any(|l| l.contains("lease held") && l.contains(&format!("job={job}")))
        })
        .count()
}

/// Starts three replicas with `store` (and `extra` env), sends 3 × the burst through the
/// balancer, and answers how many got in, and the replicas' logs.
async fn allowed_through_three_replicas(
    store: &str,
    extra: &[(&str, &str)],
) -> (usize, Vec<String>) {
    let settings = format!(
        "[gateway]\nrate_limit_store = \"{store}\"\n\n[gateway.rate_limits]\n\"/vrf/public-key\" = {{ per_second = 0.001, burst = {BURST} }}\n"
    );
    let dirs: Vec<TempDir> = (0..3)
        .map(|i| TempDir::new(&format!("neosl-scale-{i}")).expect("temp dir"))
        .collect();
    // Started (and later stopped) at once: each takes seconds.
    let replicas: Vec<common::Running> = std::thread::scope(|scope| {
        let started: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let settings = &settings;
                scope.spawn(move || {
                    let config = dir.path().join("neosl.toml");
                    std::fs::write(&config, settings).expect("config");
                    let config = config.display().to_string();
                    let mut env = vec![("NEOSL_POOL_TARGET_SIZE", "10")];
                    env.extend_from_slice(extra);
                    common::serve(dir, &["--config", &config], &env).expect("replica")
                })
            })
            .collect();
        started
            .into_iter()
            .map(|h| h.join().expect("started"))
            .collect()
    });
    let backends = replicas
        .iter()
        .map(|r| r.urls["gateway"].trim_start_matches("http://").to_owned())
        .collect();
    let (url, counts) = balancer(backends).await;
    // A new connection per request, so that the balancer spreads them.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let mut allowed = 0;
    for _ in 0..3 * BURST {
        let answer = common::send(http.get(format!("{url}/vrf/public-key"))).await;
        match answer.status {
            200 => allowed += 1,
            429 => assert_eq!(answer.body["code"], "rate_limited", "{}", answer.body),
            other => panic!("{other}: {}", answer.body),
        }
    }
    for (i, c) in counts.iter().enumerate() {
        assert!(
            c.load(Ordering::SeqCst) >= BURST,
            "replica {i} got its share of the calls"
        );
    }
    let logs = std::thread::scope(|scope| {
        let stopping: Vec<_> = replicas
            .into_iter()
            .map(|r| scope.spawn(move || r.stop()))
            .collect();
        stopping
            .into_iter()
            .map(|h| h.join().expect("stopped"))
            .collect::<Vec<_>>()
    });
    drop(dirs);
    (allowed, logs)
}

struct RedisServer(Child);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_hold_in_total_across_three_replicas_with_a_shared_store() {
    // Apart (each its own SQLite, buckets in memory): three times the burst, and each replica
    // runs every job — what a shared deployment must not do.
    let (allowed, logs) = allowed_through_three_replicas("memory", &[]).await;
    assert_eq!(
        allowed,
        3 * BURST,
        "in memory, each replica allows the burst"
    );
    assert_eq!(runners(&logs, "accountpool:maintenance"), 3);

    let pg = neosl_testkit::TestPostgres::create("neosl_scale_out")
        .await
        .expect("database");
    let (allowed, logs) =
        allowed_through_three_replicas("database", &[("NEOSL_DATABASE_URL", &pg.url)]).await;
    assert_eq!(
        allowed, BURST,
        "shared in PostgreSQL, the limit holds in total"
    );
    for job in SINGLETONS {
        assert_eq!(
            runners(&logs, job),
            1,
            "{job} runs on one replica, not three"
        );
    }
    pg.drop().await;

    let port = neosl_devnet::free_port().expect("port");
    let _redis = RedisServer(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs"),
    );
    neosl_testkit::wait_until(Duration::from_secs(10), "redis-server", || async {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(drop)
    })
    .await;
    let (allowed, _) =
        allowed_through_three_replicas(&format!("redis://127.0.0.1:{port}"), &[]).await;
    assert_eq!(allowed, BURST, "shared in Redis, the limit holds in total");
}
