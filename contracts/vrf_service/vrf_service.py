"""VRFService: the VRF service's contract behind the ServiceLayerGateway.

onRequest decodes the payload (StdLib-serialized [seed, numWords]) and fixes the VRF input on
chain from data nobody can choose after the fact: alpha = SHA-256(seed ‖ request id ‖ '|' ‖ the
request transaction's hash). It stores alpha and emits VRFRequest. The enclave proves alpha with
the VRF key (RFC 9381, ECVRF-P256-SHA256-TAI) and the result delivered to the requester is
StdLib-serialized [words, proof]; word i = SHA-256(beta ‖ i as 4 bytes big-endian). Anyone can
check the words against getInput(requestId) and the service's public key.
"""
from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import CryptoLib, StdLib
from boa3.sc.types import UInt160
from boa3.sc.utils import CreateNewEvent, to_bytes

GATEWAY = b'g'
INPUT = b'i'
WORDS = b'n'

MAX_WORDS = 256

VRFRequest = CreateNewEvent(
    [
        ('requestId', int),
        ('requester', UInt160),
        ('seed', bytes),
        ('numWords', int),
        ('alpha', bytes),
    ],
    'VRFRequest'
)


@public
def _deploy(data: Any, update: bool):
    if not update:
        storage.put_uint160(GATEWAY, cast(UInt160, data))


def gateway_only():
    assert runtime.calling_script_hash == storage.get_uint160(GATEWAY), 'gateway only'


def key(prefix: bytes, request_id: int) -> bytes:
    return prefix + to_bytes(StdLib.itoa(request_id))


@public(name='onRequest')
def on_request(request_id: int, requester: UInt160, payload: bytes):
    gateway_only()
    request = cast(list, StdLib.deserialize(payload))
    assert len(request) == 2, 'payload is [seed, numWords]'
    seed = cast(bytes, request[0])
    num_words = cast(int, request[1])
    assert num_words >= 1, 'at least one word'
    assert num_words <= MAX_WORDS, 'at most 256 words'
    alpha = CryptoLib.sha256(seed + to_bytes(StdLib.itoa(request_id)) + b'|' + runtime.script_container.hash)
    storage.put(key(INPUT, request_id), alpha)
    storage.put_int(key(WORDS, request_id), num_words)
    VRFRequest(request_id, requester, seed, num_words, alpha)


@public(name='onFulfill')
def on_fulfill(request_id: int, success: bool, result: bytes):
    gateway_only()
    if success:
        answer = cast(list, StdLib.deserialize(result))
        words = cast(list, answer[0])
        assert len(words) == storage.get_int(key(WORDS, request_id)), 'wrong number of words'
    storage.delete(key(WORDS, request_id))


@public(name='getInput', safe=True)
def get_input(request_id: int) -> bytes:
    return storage.get(key(INPUT, request_id))


def manifest_metadata() -> NeoMetadata:
    meta = NeoMetadata()
    meta.name = 'VRFService'
    meta.description = 'Neo Service Layer: verifiable randomness (RFC 9381) for contracts'
    return meta
