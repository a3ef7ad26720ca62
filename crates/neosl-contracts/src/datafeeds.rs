//! The `DataFeedsService`: the message its updates are signed over, and the `updatePrices`
//! arguments.

use neosl_neo::UInt160;
use neosl_neo::param::{ContractParameter as P, StackItem};
use neosl_neo::serialize;

/// The service id the gateway contract knows DataFeeds by.
pub const SERVICE_ID: &str = "datafeeds";

/// What every update message starts with.
pub const DOMAIN: &[u8] = b"neosl-datafeeds|";

/// One pair's round as the contract receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceUpdate {
    /// `BTC/USD`.
    pub pair: String,
    /// The round, increasing per pair.
    pub round_id: u64,
    /// The price, fixed-point with `decimals` decimals.
    pub price: i64,
    /// Its decimals.
    pub decimals: u32,
    /// When the round was made, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The pair's heartbeat, seconds (stored beside the price for consumers).
    pub heartbeat_secs: u32,
    /// The pair's deviation threshold, basis points (likewise).
    pub deviation_bps: u32,
    /// The DataFeeds key's signature over [`update_message`] (64 bytes r‖s).
    pub signature: Vec<u8>,
}

/// What the DataFeeds key signs for one round: the domain, the network magic in decimal, `|`,
/// the contract (its script hash, little-endian bytes), then [`update_fields`] — the
/// contract builds the same bytes with one `StdLib.serialize` and stores them as the round.
pub fn update_message(network: u32, contract: &UInt160, update: &PriceUpdate) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 96);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(network.to_string().as_bytes());
    m.push(b'|');
    m.extend_from_slice(contract.as_le_bytes());
    m.extend_from_slice(&update_fields(update));
    m
}

/// `StdLib.serialize([pair, roundId, price, decimals, timestamp, heartbeat, deviation])`.
pub fn update_fields(update: &PriceUpdate) -> Vec<u8> {
    let item = StackItem::Array(vec![
        StackItem::ByteString(update.pair.as_bytes().to_vec()),
        StackItem::Integer(update.round_id.into()),
        StackItem::Integer(update.price.into()),
        StackItem::Integer(update.decimals.into()),
        StackItem::Integer(update.timestamp_ms.into()),
        StackItem::Integer(update.heartbeat_secs.into()),
        StackItem::Integer(update.deviation_bps.into()),
    ]);
    // Seven small items are always serializable.
    serialize::serialize(&item).unwrap_or_default()
}

/// The `updatePrices` argument: one array per pair.
pub fn update_prices_args(updates: &[PriceUpdate]) -> Vec<P> {
    vec![P::Array(
        updates
            .iter()
            .map(|u| {
                P::Array(vec![
                    P::String(u.pair.clone()),
                    P::Integer(u.round_id.into()),
                    P::Integer(u.price.into()),
                    P::Integer(u.decimals.into()),
                    P::Integer(u.timestamp_ms.into()),
                    P::Integer(u.heartbeat_secs.into()),
                    P::Integer(u.deviation_bps.into()),
                    P::ByteArray(u.signature.clone()),
                ])
            })
            .collect(),
    )]
}
