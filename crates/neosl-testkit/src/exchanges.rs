//! Local exchange servers: one HTTP listener per exchange, each answering its spot-ticker
//! route in that exchange's own wire format (field names, strings versus numbers, time
//! formats, and its own error shapes), with prices the test sets. A test can take an exchange
//! down, make it answer garbage or answer slowly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// How an exchange behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers its real format.
    Normal,
    /// Answers `503` with an HTML page (a load balancer in front of a dead exchange).
    Down,
    /// Answers `200` with bytes that are not its format.
    Garbage,
    /// Answers its real format after this many milliseconds.
    Slow(u64),
}

#[derive(Default)]
struct Book {
    /// (exchange, symbol) → price as decimal text.
    prices: HashMap<(String, String), String>,
    behaviour: HashMap<String, Behaviour>,
    /// A fixed time for the answers (Unix ms); else the wall clock.
    time_ms: Option<i64>,
    /// Requests served, per exchange.
    hits: HashMap<String, u64>,
}

/// The exchanges' names, as the DataFeeds settings name them.
pub const NAMES: [&str; 8] = [
    "binance", "coinbase", "kraken", "okx", "bitstamp", "kucoin", "gate", "htx",
];

/// The running servers.
#[derive(Clone)]
pub struct Exchanges {
    book: Arc<Mutex<Book>>,
    addrs: HashMap<&'static str, SocketAddr>,
}

impl std::fmt::Debug for Exchanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchanges")
            .field("addrs", &self.addrs)
            .finish()
    }
}

type Shared = State<(Arc<Mutex<Book>>, &'static str)>;

fn now_ms(book: &Book) -> i64 {
    book.time_ms.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

/// RFC 3339 with nanoseconds, as Coinbase writes it.
fn rfc3339_nanos(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}274911Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Kraken keys its result by the canonical pair name.
fn kraken_key(symbol: &str) -> String {
    match symbol {
        "XBTUSD" => "XXBTZUSD".into(),
        "ETHUSD" => "XETHZUSD".into(),
        other => other.to_owned(),
    }
}

/// A JSON number in HTX's float notation (`85728.3`, never quoted).
fn htx_number(text: &str) -> String {
    let trimmed = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    };
    if trimmed.contains('.') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}.0")
    }
}

async fn answer(state: &Shared, symbol: &str) -> Result<(String, i64), Response> {
    let (book, exchange) = (&state.0.0, state.0.1);
    let (behaviour, price, time) = {
        let mut b = book.lock().expect("book");
        *b.hits.entry(exchange.to_owned()).or_default() += 1;
        (
            b.behaviour
                .get(exchange)
                .copied()
                .unwrap_or(Behaviour::Normal),
            b.prices
                .get(&(exchange.to_owned(), symbol.to_owned()))
                .cloned(),
            now_ms(&b),
        )
    };
    match behaviour {
        Behaviour::Down => {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                [("content-type", "text/html")],
                "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
            )
                .into_response());
        }
        Behaviour::Garbage => {
            return Err(json(StatusCode::OK, "{\"ok\":tru".into()));
        }
        Behaviour::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Behaviour::Normal => {}
    }
    match price {
        Some(p) => Ok((p, time)),
        None => Err(unknown_symbol(exchange, symbol, time)),
    }
}

fn unknown_symbol(exchange: &str, symbol: &str, time: i64) -> Response {
    match exchange {
        "binance" => json(
            StatusCode::BAD_REQUEST,
            r#"{"code":-1121,"msg":"Invalid symbol."}"#.into(),
        ),
        "coinbase" => json(StatusCode::NOT_FOUND, r#"{"message":"NotFound"}"#.into()),
        "kraken" => json(
            StatusCode::OK,
            r#"{"error":["EQuery:Unknown asset pair"],"result":{}}"#.into(),
        ),
        "okx" => json(
            StatusCode::OK,
            r#"{"code":"51001","msg":"Instrument ID, Instrument ID code, or Spread ID doesn't exist.","data":[]}"#
                .into(),
        ),
        "bitstamp" => (StatusCode::NOT_FOUND, "Not Found").into_response(),
        "kucoin" => json(StatusCode::OK, r#"{"code":"200000","data":null}"#.into()),
        "gate" => json(
            StatusCode::BAD_REQUEST,
            format!(r#"{{"label":"INVALID_CURRENCY_PAIR","message":"Invalid currency pair {symbol}"}}"#),
        ),
        _ => json(
            StatusCode::OK,
            format!(r#"{{"ts":{time},"status":"error","err-code":"invalid-parameter","err-msg":"invalid symbol"}}"#),
        ),
    }
}

async fn binance(state: Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    match answer(&state, &symbol).await {
        Ok((p, t)) => json(
            StatusCode::OK,
            format!(
                r#"{{"symbol":"{symbol}","priceChange":"-94.99999800","priceChangePercent":"-0.146","weightedAvgPrice":"{p}","prevClosePrice":"{p}","lastPrice":"{p}","lastQty":"0.00200000","bidPrice":"{p}","bidQty":"1.23400000","askPrice":"{p}","askQty":"0.56700000","openPrice":"{p}","highPrice":"{p}","lowPrice":"{p}","volume":"18913.30000000","quoteVolume":"1226899015.30000000","openTime":{},"closeTime":{t},"firstId":4928385,"lastId":5928460,"count":1000076}}"#,
                t - 86_400_000
            ),
        ),
        Err(r) => r,
    }
}

async fn coinbase(state: Shared, Path(symbol): Path<String>) -> Response {
    match answer(&state, &symbol).await {
        Ok((p, t)) => json(
            StatusCode::OK,
            format!(
                r#"{{"ask":"{p}","bid":"{p}","volume":"4916.94797396","trade_id":1040406588,"price":"{p}","size":"0.00782662","time":"{}","rfq_volume":"31.625279","conversions_volume":"0.00"}}"#,
                rfc3339_nanos(t)
            ),
        ),
        Err(r) => r,
    }
}

async fn kraken(state: Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let symbol = q.get("pair").cloned().unwrap_or_default();
    match answer(&state, &symbol).await {
        Ok((p, _)) => json(
            StatusCode::OK,
            format!(
                r#"{{"error":[],"result":{{"{}":{{"a":["{p}","1","1.000"],"b":["{p}","5","5.000"],"c":["{p}","0.00001393"],"v":["615.68639239","2388.56785114"],"p":["{p}","{p}"],"t":[22946,103648],"l":["{p}","{p}"],"h":["{p}","{p}"],"o":"{p}"}}}}}}"#,
                kraken_key(&symbol)
            ),
        ),
        Err(r) => r,
    }
}

async fn okx(state: Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let symbol = q.get("instId").cloned().unwrap_or_default();
    match answer(&state, &symbol).await {
        Ok((p, t)) => json(
            StatusCode::OK,
            format!(
                r#"{{"code":"0","msg":"","data":[{{"instType":"SPOT","instId":"{symbol}","last":"{p}","lastSz":"0.01201826","askPx":"{p}","askSz":"1.972391","bidPx":"{p}","bidSz":"0.06468108","open24h":"{p}","high24h":"{p}","low24h":"{p}","volCcy24h":"203402708.53788367","vol24h":"4886.88830413","ts":"{t}","sodUtc0":"{p}","sodUtc8":"{p}"}}]}}"#
            ),
        ),
        Err(r) => r,
    }
}

async fn bitstamp(state: Shared, Path(symbol): Path<String>) -> Response {
    match answer(&state, &symbol).await {
        Ok((p, t)) => json(
            StatusCode::OK,
            format!(
                r#"{{"timestamp":"{}","open":"{p}","high":"{p}","low":"{p}","last":"{p}","volume":"1277.88750357","vwap":"{p}","bid":"{p}","ask":"{p}","side":"1","open_24":"{p}","percent_change_24":"0.78","market_type":"SPOT"}}"#,
                t / 1000
            ),
        ),
        Err(r) => r,
    }
}

async fn kucoin(state: Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    match answer(&state, &symbol).await {
        Ok((p, t)) => json(
            StatusCode::OK,
            format!(
                r#"{{"code":"200000","data":{{"time":{t},"sequence":"1550467636704","price":"{p}","size":"0.17","bestBid":"{p}","bestBidSize":"3.803","bestAsk":"{p}","bestAskSize":"1.788"}}}}"#
            ),
        ),
        Err(r) => r,
    }
}

async fn gate(state: Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let symbol = q.get("currency_pair").cloned().unwrap_or_default();
    match answer(&state, &symbol).await {
        Ok((p, _)) => json(
            StatusCode::OK,
            format!(
                r#"[{{"currency_pair":"{symbol}","last":"{p}","lowest_ask":"{p}","lowest_size":"1.2449","highest_bid":"{p}","highest_size":"3.509188","change_percentage":"1","base_volume":"4263.248795","quote_volume":"366426509.6078934","high_24h":"{p}","low_24h":"{p}"}}]"#
            ),
        ),
        Err(r) => r,
    }
}

async fn htx(state: Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    match answer(&state, &symbol).await {
        Ok((p, t)) => {
            let n = htx_number(&p);
            json(
                StatusCode::OK,
                format!(
                    r#"{{"ch":"market.{symbol}.detail.merged","status":"ok","ts":{t},"tick":{{"id":388306023296,"version":388306023296,"open":{n},"close":{n},"low":{n},"high":{n},"amount":4027.5973326944095,"vol":5.985618685709001E8,"count":892900,"bid":[{n},0.018273],"ask":[{n},1.567085]}}}}"#
                ),
            )
        }
        Err(r) => r,
    }
}

fn router(book: Arc<Mutex<Book>>, exchange: &'static str) -> Router {
    let r = Router::new();
    let r = match exchange {
        "binance" => r.route("/api/v3/ticker/24hr", get(binance)),
        "coinbase" => r.route("/products/{symbol}/ticker", get(coinbase)),
        "kraken" => r.route("/0/public/Ticker", get(kraken)),
        "okx" => r.route("/api/v5/market/ticker", get(okx)),
        "bitstamp" => r.route("/api/v2/ticker/{symbol}/", get(bitstamp)),
        "kucoin" => r.route("/api/v1/market/orderbook/level1", get(kucoin)),
        "gate" => r.route("/api/v4/spot/tickers", get(gate)),
        _ => r.route("/market/detail/merged", get(htx)),
    };
    r.with_state((book, exchange))
}

impl Exchanges {
    /// Starts one listener per exchange on 127.0.0.1.
    pub async fn start() -> anyhow::Result<Self> {
        let book = Arc::new(Mutex::new(Book::default()));
        let mut addrs = HashMap::new();
        for name in NAMES {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addrs.insert(name, listener.local_addr()?);
            let app = router(book.clone(), name);
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
        }
        Ok(Self { book, addrs })
    }

    /// The base address of `exchange` (`http://127.0.0.1:port`).
    pub fn url(&self, exchange: &str) -> String {
        format!("http://{}", self.addrs[exchange])
    }

    /// `[datafeeds.sources]` lines pointing every exchange here.
    pub fn settings_toml(&self) -> String {
        let mut out = String::from("[datafeeds.sources]\n");
        for name in NAMES {
            out.push_str(&format!("{name} = \"{}\"\n", self.url(name)));
        }
        out
    }

    /// Sets `exchange`'s price of `symbol` (decimal text, as the exchange would write it).
    pub fn set_price(&self, exchange: &str, symbol: &str, price: &str) {
        self.book
            .lock()
            .expect("book")
            .prices
            .insert((exchange.to_owned(), symbol.to_owned()), price.to_owned());
    }

    /// Sets how `exchange` behaves.
    pub fn set_behaviour(&self, exchange: &str, behaviour: Behaviour) {
        self.book
            .lock()
            .expect("book")
            .behaviour
            .insert(exchange.to_owned(), behaviour);
    }

    /// Fixes the time the exchanges report (Unix ms), or back to the wall clock with `None`.
    pub fn set_time(&self, time_ms: Option<i64>) {
        self.book.lock().expect("book").time_ms = time_ms;
    }

    /// How many requests `exchange` has answered.
    pub fn hits(&self, exchange: &str) -> u64 {
        self.book
            .lock()
            .expect("book")
            .hits
            .get(exchange)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn coinbase_times_are_rfc3339_with_nanoseconds() {
        assert_eq!(
            super::rfc3339_nanos(1_781_887_413_016),
            "2026-06-19T16:43:33.016274911Z"
        );
        assert_eq!(super::htx_number("85728.30000000"), "85728.3");
        assert_eq!(super::htx_number("50080"), "50080.0");
    }
}
