"""DataFeedsService: signed prices that DeFi contracts read directly.

The platform's enclave aggregates each pair's price from several exchanges and signs every round
with the DataFeeds key registered in the ServiceLayerGateway (service id "datafeeds"). A TEE
account registered in the gateway sends updatePrices with one or more rounds; each is checked
(signature over a domain-separated message: the domain, the network, this contract, then
StdLib.serialize([pair, roundId, price, decimals, timestamp, heartbeat, deviation]); round id
strictly increasing per pair; time not in the future) and stored as those serialized fields.

Reads: getLatestPrice(pair) -> [price, decimals, roundId, timestamp]; getPriceNoOlderThan(pair,
maxAgeSeconds) faults when the latest price is older (the safe read); getPairConfig(pair) ->
[heartbeatSeconds, deviationBps]. Timestamps are Unix milliseconds, like runtime.time.
"""
from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import CryptoLib, StdLib
from boa3.sc.types import CallFlags, ECPoint, NamedCurveHash, Signer, UInt160
from boa3.sc.utils import CreateNewEvent, call_contract, to_bytes

GATEWAY = b'g'
PRICE = b'p'

SERVICE_ID = 'datafeeds'
DOMAIN = b'neosl-datafeeds|'
MAX_SKEW = 15000  # how far a round's time may be ahead of the block's, milliseconds

PriceUpdated = CreateNewEvent(
    [
        ('pair', str),
        ('roundId', int),
        ('price', int),
        ('decimals', int),
        ('timestamp', int),
    ],
    'PriceUpdated'
)

PriceRequest = CreateNewEvent(
    [('requestId', int), ('requester', UInt160), ('pair', str)],
    'PriceRequest'
)


@public
def _deploy(data: Any, update: bool):
    if not update:
        storage.put_uint160(GATEWAY, cast(UInt160, data))


def gateway() -> UInt160:
    return storage.get_uint160(GATEWAY)


def price_key(pair: str) -> bytes:
    return PRICE + to_bytes(pair)


def read_price(pair: str) -> list:
    """[pair, roundId, price, decimals, timestamp, heartbeat, deviation], or []."""
    stored = storage.get(price_key(pair))
    if len(stored) == 0:
        return []
    return cast(list, StdLib.deserialize(stored))


@public(name='updatePrices')
def update_prices(updates: list):
    signers = runtime.get_current_signers()
    assert len(signers) > 0, 'no signer'
    first: Signer = signers[0]
    sender = first.account
    assert runtime.check_witness(sender), 'no witness of the TEE account'
    assert cast(bool, call_contract(gateway(), 'isTeeAccount', [sender], CallFlags.READ_ONLY)), 'not a TEE account'
    service = cast(list, call_contract(gateway(), 'getService', [SERVICE_ID], CallFlags.READ_ONLY))
    assert len(service) > 0, 'datafeeds is not registered'
    keys = cast(list, service[1])
    prefix = DOMAIN + to_bytes(StdLib.itoa(runtime.get_network())) + b'|' + runtime.executing_script_hash
    for entry in updates:
        update = cast(list, entry)
        assert len(update) == 8, 'an update is [pair, roundId, price, decimals, timestamp, heartbeat, deviation, signature]'
        pair = cast(str, update[0])
        round_id = cast(int, update[1])
        price = cast(int, update[2])
        decimals = cast(int, update[3])
        timestamp = cast(int, update[4])
        heartbeat = cast(int, update[5])
        deviation = cast(int, update[6])
        signature = cast(bytes, update[7])
        assert price > 0, 'price must be positive'
        assert timestamp <= runtime.time + MAX_SKEW, 'timestamp in the future'
        latest = read_price(pair)
        if len(latest) > 0:
            assert round_id > cast(int, latest[1]), 'round id must increase'
        fields: list = [pair, round_id, price, decimals, timestamp, heartbeat, deviation]
        encoded = StdLib.serialize(fields)
        message = prefix + encoded
        verified = False
        for key in keys:
            if not verified:
                if CryptoLib.verify_with_ecdsa(message, cast(ECPoint, key), signature, NamedCurveHash.SECP256R1SHA256):
                    verified = True
        assert verified, 'bad signature'
        storage.put(price_key(pair), encoded)
        PriceUpdated(pair, round_id, price, decimals, timestamp)


@public(name='getLatestPrice', safe=True)
def get_latest_price(pair: str) -> list:
    latest = read_price(pair)
    assert len(latest) > 0, 'no price for this pair'
    answer: list = [latest[2], latest[3], latest[1], latest[4]]
    return answer


@public(name='getPriceNoOlderThan', safe=True)
def get_price_no_older_than(pair: str, max_age_seconds: int) -> list:
    latest = read_price(pair)
    assert len(latest) > 0, 'no price for this pair'
    assert runtime.time - cast(int, latest[4]) <= max_age_seconds * 1000, 'price is stale'
    answer: list = [latest[2], latest[3], latest[1], latest[4]]
    return answer


@public(name='getPairConfig', safe=True)
def get_pair_config(pair: str) -> list:
    latest = read_price(pair)
    assert len(latest) > 0, 'no price for this pair'
    answer: list = [latest[5], latest[6]]
    return answer


@public(name='onRequest')
def on_request(request_id: int, requester: UInt160, payload: bytes):
    assert runtime.calling_script_hash == gateway(), 'gateway only'
    pair = to_str(payload)
    PriceRequest(request_id, requester, pair)


def to_str(data: bytes) -> str:
    return cast(str, data)


@public(name='onFulfill')
def on_fulfill(request_id: int, success: bool, result: bytes):
    assert runtime.calling_script_hash == gateway(), 'gateway only'


def manifest_metadata() -> NeoMetadata:
    meta = NeoMetadata()
    meta.name = 'DataFeedsService'
    meta.description = 'Neo Service Layer: signed multi-source prices'
    meta.add_permission(methods=['isTeeAccount', 'getService'])
    return meta
