//! DataFeeds against local exchange servers speaking each exchange's wire format: outliers,
//! sources down or answering garbage, the quorum lost and regained, a slow exchange, rounds
//! by deviation and heartbeat, numbering shared by replicas and kept across restarts, on both
//! database backends.

use std::sync::Arc;
use std::time::Duration;

use neosl_crypto::SecretKey;
use neosl_datafeeds::DataFeeds;
use neosl_datafeeds::settings::{DataFeedsSettings, PairSettings};
use neosl_datafeeds::store::Store;
use neosl_runtime::clock::ManualClock;
use neosl_runtime::db::Database;
use neosl_testkit::exchanges::{Behaviour, Exchanges};
use neosl_testkit::{TestDatabase, on_both_backends};

/// BTC/USD on every exchange, with each exchange's own symbol.
const BTC: [(&str, &str); 8] = [
    ("binance", "BTCUSDT"),
    ("coinbase", "BTC-USD"),
    ("kraken", "XBTUSD"),
    ("okx", "BTC-USDT"),
    ("bitstamp", "btcusd"),
    ("kucoin", "BTC-USDT"),
    ("gate", "BTC_USDT"),
    ("htx", "btcusdt"),
];

const ETH: [(&str, &str); 3] = [
    ("binance", "ETHUSDT"),
    ("okx", "ETH-USDT"),
    ("kucoin", "ETH-USDT"),
];

fn settings(exchanges: &Exchanges) -> DataFeedsSettings {
    let mut s = DataFeedsSettings {
        timeout_ms: 500,
        retries: 1,
        backoff_ms: 10,
        ..DataFeedsSettings::default()
    };
    s.sources = neosl_testkit::exchanges::NAMES
        .iter()
        .map(|n| ((*n).to_owned(), exchanges.url(n)))
        .collect();
    s.pairs = vec![
        PairSettings {
            pair: "BTC/USD".into(),
            heartbeat_secs: 60,
            deviation_bps: 50,
            sources: BTC
                .iter()
                .map(|(e, s)| ((*e).to_owned(), (*s).to_owned()))
                .collect(),
        },
        PairSettings {
            pair: "ETH/USD".into(),
            heartbeat_secs: 60,
            deviation_bps: 50,
            sources: ETH
                .iter()
                .map(|(e, s)| ((*e).to_owned(), (*s).to_owned()))
                .collect(),
        },
    ];
    s
}

fn set_btc(exchanges: &Exchanges, price: &str) {
    for (e, s) in BTC {
        exchanges.set_price(e, s, price);
    }
}

struct Harness {
    exchanges: Exchanges,
    clock: Arc<ManualClock>,
    key: SecretKey,
}

impl Harness {
    async fn new() -> Self {
        let exchanges = Exchanges::start().await.expect("exchanges");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_millis();
        let now = i64::try_from(now).expect("now");
        // The exchanges report this time; the service's clock moves from it.
        exchanges.set_time(Some(now));
        Self {
            exchanges,
            clock: ManualClock::at(now),
            key: SecretKey::generate(),
        }
    }

    async fn feeds(&self, db: &TestDatabase) -> DataFeeds {
        let store = Store::open(Database::connect(&db.url()).await.expect("connect"))
            .await
            .expect("migrate");
        let settings = settings(&self.exchanges);
        let pairs = settings.resolve().expect("settings");
        DataFeeds::new(
            store,
            settings,
            pairs,
            self.key.signing_key().expect("key"),
            860_833_102,
            None,
            self.clock.clone(),
        )
        .expect("feeds")
    }

    /// Moves both clocks (the service's and the exchanges' reported time).
    fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.exchanges.set_time(Some(self.clock_now()));
    }

    fn clock_now(&self) -> i64 {
        use neosl_runtime::clock::Clock;
        self.clock.now_millis()
    }
}

async fn an_outlier_is_dropped_and_the_median_stays(db: &TestDatabase) {
    let h = Harness::new().await;
    let feeds = h.feeds(db).await;
    set_btc(&h.exchanges, "100000.00");
    h.exchanges.set_price("kraken", "XBTUSD", "100010.0");
    h.exchanges.set_price("coinbase", "BTC-USD", "99990.00");
    // One source off by 50 %.
    h.exchanges.set_price("htx", "btcusdt", "150000.0");
    let pair = &feeds.pairs()[0];
    let round = feeds
        .cycle(pair)
        .await
        .expect("cycle")
        .expect("a first round");
    assert_eq!(round.round_id, 1);
    assert_eq!(round.price, "10000000000000");
    assert_eq!(round.price_decimal, "100000.00000000");
    assert_eq!(round.reason, "first");
    assert_eq!(round.sources_used.len(), 7);
    assert!(!round.sources_used.contains(&"htx".to_owned()));
    assert_eq!(round.sources_dropped.len(), 1);
    assert_eq!(round.sources_dropped[0].source, "htx");
    assert_eq!(round.sources_dropped[0].reason, "outlier");
    // The signature verifies over the update message with the round's fields.
    let update = neosl_contracts::datafeeds::PriceUpdate {
        pair: "BTC/USD".into(),
        round_id: 1,
        price: 10_000_000_000_000,
        decimals: 8,
        timestamp_ms: round.timestamp,
        heartbeat_secs: 60,
        deviation_bps: 50,
        signature: Vec::new(),
    };
    let message = neosl_contracts::datafeeds::update_message(
        860_833_102,
        &neosl_neo::UInt160::default(),
        &update,
    );
    let signature =
        neosl_crypto::Signature::from_slice(&hex::decode(&round.signature).expect("hex"))
            .expect("signature");
    assert!(h.key.public_key().verify(&message, &signature));
}

async fn sources_down_or_garbled_leave_the_quorum(db: &TestDatabase) {
    let h = Harness::new().await;
    let feeds = h.feeds(db).await;
    let (btc, eth) = (&feeds.pairs()[0], &feeds.pairs()[1]);
    for (e, s) in ETH {
        h.exchanges.set_price(e, s, "3000.5");
    }
    set_btc(&h.exchanges, "100000");
    feeds.cycle(btc).await.expect("cycle").expect("round 1");
    feeds.cycle(eth).await.expect("cycle").expect("eth round 1");

    // ETH has three sources and a quorum of three: one down, one garbage → quorum lost.
    h.exchanges.set_behaviour("okx", Behaviour::Down);
    h.exchanges.set_behaviour("kucoin", Behaviour::Garbage);
    // BTC still has six good sources, and moves by 1 %.
    set_btc(&h.exchanges, "101000");
    h.advance(Duration::from_secs(1));
    let r = feeds
        .cycle(btc)
        .await
        .expect("cycle")
        .expect("deviation round");
    assert_eq!((r.round_id, r.reason.as_str()), (2, "deviation"));
    assert_eq!(r.sources_used.len(), 6);
    assert!(
        feeds.cycle(eth).await.expect("cycle").is_none(),
        "no round without a quorum"
    );

    let eth_price = feeds.price("ETH-USD").await.expect("price");
    assert_eq!(eth_price.state, "unhealthy");
    assert!(
        eth_price
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("quorum lost")
    );
    assert_eq!(
        eth_price.latest.expect("the last round is kept").round_id,
        1
    );
    let report = feeds.sources().await.expect("sources");
    let okx = report
        .sources
        .iter()
        .find(|s| s.source == "okx")
        .expect("okx");
    assert!(!okx.healthy);
    let okx_eth = okx
        .pairs
        .iter()
        .find(|p| p.pair == "ETH/USD")
        .expect("pair");
    assert!(
        okx_eth
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("HTTP 503"),
        "{okx_eth:?}"
    );
    let kucoin = report
        .sources
        .iter()
        .find(|s| s.source == "kucoin")
        .expect("kucoin");
    assert!(
        kucoin.pairs[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("unreadable")
    );
    assert_eq!(feeds.unhealthy().await.expect("states").len(), 1);

    // Back up: the pair is healthy again and makes its next round when it is due.
    h.exchanges.set_behaviour("okx", Behaviour::Normal);
    h.exchanges.set_behaviour("kucoin", Behaviour::Normal);
    h.advance(Duration::from_secs(60));
    let r = feeds
        .cycle(eth)
        .await
        .expect("cycle")
        .expect("heartbeat round");
    assert_eq!((r.round_id, r.reason.as_str()), (2, "heartbeat"));
    assert!(feeds.unhealthy().await.expect("states").is_empty());
}

async fn rounds_follow_deviation_and_heartbeat_and_go_stale(db: &TestDatabase) {
    let h = Harness::new().await;
    let feeds = h.feeds(db).await;
    let btc = &feeds.pairs()[0];
    assert_eq!(
        feeds.price("BTC/USD").await.expect("price").state,
        "no_round_yet"
    );
    set_btc(&h.exchanges, "100000");
    feeds.cycle(btc).await.expect("cycle").expect("first");
    // 0.4 % is within the 0.5 % threshold: no round until the heartbeat.
    set_btc(&h.exchanges, "100400");
    h.advance(Duration::from_secs(30));
    assert!(feeds.cycle(btc).await.expect("cycle").is_none());
    h.advance(Duration::from_secs(30));
    let r = feeds.cycle(btc).await.expect("cycle").expect("heartbeat");
    assert_eq!(
        (r.round_id, r.reason.as_str(), r.price_decimal.as_str()),
        (2, "heartbeat", "100400.00000000")
    );
    assert_eq!(feeds.price("btc-usd").await.expect("price").state, "fresh");
    // The sources stop answering: the price goes stale once the heartbeat has long passed.
    for e in neosl_testkit::exchanges::NAMES {
        h.exchanges.set_behaviour(e, Behaviour::Down);
    }
    h.advance(Duration::from_secs(70));
    assert!(feeds.cycle(btc).await.expect("cycle").is_none());
    let p = feeds.price("BTC/USD").await.expect("price");
    assert_eq!(p.state, "unhealthy");
    for e in neosl_testkit::exchanges::NAMES {
        h.exchanges.set_behaviour(e, Behaviour::Normal);
    }
    // Quotes older than the freshness limit do not count either: the exchanges' time stands
    // still while the service's moves on.
    h.exchanges.set_time(Some(h.clock_now()));
    h.clock.advance(Duration::from_secs(61));
    assert!(
        feeds.cycle(btc).await.expect("cycle").is_none(),
        "stale quotes make no round"
    );
    let rounds = feeds
        .rounds("BTC-USD", None, Some(10))
        .await
        .expect("rounds");
    assert_eq!(
        rounds.iter().map(|r| r.round_id).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(
        feeds
            .rounds("BTC-USD", Some(2), None)
            .await
            .expect("rounds")
            .len(),
        1
    );
    assert!(feeds.rounds("BTC-USD", None, Some(0)).await.is_err());
    assert!(matches!(
        feeds.price("DOGE/USD").await,
        Err(neosl_datafeeds::DataFeedsError::UnknownPair(_))
    ));
    assert!(matches!(
        feeds.price("BTC/usd/x").await,
        Err(neosl_datafeeds::DataFeedsError::InvalidPair(_))
    ));
}

async fn a_slow_exchange_stalls_no_other_pair(db: &TestDatabase) {
    let h = Harness::new().await;
    let feeds = Arc::new(h.feeds(db).await);
    set_btc(&h.exchanges, "100000");
    for (e, s) in ETH {
        h.exchanges.set_price(e, s, "3000");
    }
    // Coinbase answers BTC only after 30 s (past the 0.5 s limit): BTC rounds still come from
    // the other sources, and ETH (which does not use Coinbase) runs on its own schedule.
    h.exchanges
        .set_behaviour("coinbase", Behaviour::Slow(30_000));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let job = tokio::spawn(feeds.clone().run(rx));
    neosl_testkit::wait_until(Duration::from_secs(20), "both pairs' first rounds", || {
        let feeds = feeds.clone();
        async move {
            let prices = feeds.prices().await.ok()?;
            prices.iter().all(|p| p.latest.is_some()).then_some(())
        }
    })
    .await;
    let btc = feeds
        .price("BTC/USD")
        .await
        .expect("price")
        .latest
        .expect("round");
    assert!(!btc.sources_used.contains(&"coinbase".to_owned()));
    let sources = feeds.sources().await.expect("sources");
    let coinbase = sources
        .sources
        .iter()
        .find(|s| s.source == "coinbase")
        .expect("coinbase");
    assert_eq!(coinbase.pairs[0].last_error.as_deref(), Some("timed out"));
    tx.send(true).expect("stop");
    job.await.expect("job");
}

async fn replicas_share_the_numbering_and_restarts_continue_it(db: &TestDatabase) {
    let h = Harness::new().await;
    set_btc(&h.exchanges, "100000");
    let a = Arc::new(h.feeds(db).await);
    let b = Arc::new(h.feeds(db).await);
    let btc = a.pairs()[0].clone();
    // Both replicas cycle at once, many times over, with the price moving each time.
    for step in 0..10u32 {
        set_btc(&h.exchanges, &(100_000 + step * 1000).to_string());
        h.advance(Duration::from_secs(1));
        let (ra, rb) = tokio::join!(a.cycle(&btc), b.cycle(&btc));
        let made = usize::from(ra.expect("a").is_some()) + usize::from(rb.expect("b").is_some());
        assert_eq!(
            made, 1,
            "step {step}: one round per move, never two competing ones"
        );
    }
    drop((a, b));
    let restarted = h.feeds(db).await;
    set_btc(&h.exchanges, "200000");
    h.advance(Duration::from_secs(1));
    let r = restarted.cycle(&btc).await.expect("cycle").expect("round");
    assert_eq!(r.round_id, 11);
    let ids: Vec<u64> = restarted
        .rounds("BTC/USD", None, Some(100))
        .await
        .expect("rounds")
        .iter()
        .map(|r| r.round_id)
        .collect();
    assert_eq!(ids, (1..=11).rev().collect::<Vec<_>>());
}

on_both_backends!(
    an_outlier_is_dropped_and_the_median_stays,
    sources_down_or_garbled_leave_the_quorum,
    rounds_follow_deviation_and_heartbeat_and_go_stale,
    a_slow_exchange_stalls_no_other_pair,
    replicas_share_the_numbering_and_restarts_continue_it,
);
