"""ExampleConsumer: the contract a dApp developer copies to use the Neo Service Layer.

requestRandom(numWords) asks the ServiceLayerGateway for verifiable random words; the gateway
calls back onRandom, which accepts calls from the gateway only and stores the words;
getRandom(requestId) returns them. The gateway is fixed at deployment (deploy data).

scheduleAutomation(trigger) registers an Automation trigger owned by this contract (the trigger
as JSON bytes); onAutomation stores the answer (the trigger id, or the refusal's code) and
getAutomation(requestId) returns [success, result].

compute(uploadId, input) asks Confidential compute to run code uploaded off chain (by the
upload's id) on the input; onCompute stores [success, result] (the signed result, or the failure's
code) and getCompute(requestId) returns it.

readPrice(pair, maxAgeSeconds) is the safe way to read a DataFeeds price: it finds the
DataFeedsService through the gateway and calls getPriceNoOlderThan, which faults when the latest
price is older than the bound, so a stale price can never be used by mistake.
"""
from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import StdLib
from boa3.sc.types import CallFlags, UInt160
from boa3.sc.utils import CreateNewEvent, call_contract, to_bytes

GATEWAY = b'g'
WORDS = b'w'
AUTOMATION = b'a'
COMPUTE = b'c'

RandomReceived = CreateNewEvent(
    [('requestId', int), ('numWords', int)],
    'RandomReceived'
)


@public
def _deploy(data: Any, update: bool):
    if not update:
        storage.put_uint160(GATEWAY, cast(UInt160, data))


def words_key(request_id: int) -> bytes:
    return WORDS + to_bytes(StdLib.itoa(request_id))


@public(name='requestRandom')
def request_random(num_words: int) -> int:
    seed = to_bytes(StdLib.itoa(runtime.get_random()))
    request: list = [seed, num_words]
    payload = StdLib.serialize(request)
    request_id = call_contract(storage.get_uint160(GATEWAY), 'requestService', ['vrf', payload, 'onRandom'],
                               CallFlags.ALL)
    return cast(int, request_id)


@public(name='onRandom')
def on_random(request_id: int, success: bool, result: bytes):
    assert runtime.calling_script_hash == storage.get_uint160(GATEWAY), 'gateway only'
    if success:
        answer = cast(list, StdLib.deserialize(result))
        words = cast(list, answer[0])
        storage.put(words_key(request_id), StdLib.serialize(words))
        RandomReceived(request_id, len(words))


@public(name='getRandom', safe=True)
def get_random(request_id: int) -> list:
    stored = storage.get(words_key(request_id))
    if len(stored) == 0:
        return []
    return cast(list, StdLib.deserialize(stored))


@public(name='scheduleAutomation')
def schedule_automation(trigger: bytes) -> int:
    request_id = call_contract(storage.get_uint160(GATEWAY), 'requestService', ['automation', trigger, 'onAutomation'],
                               CallFlags.ALL)
    return cast(int, request_id)


@public(name='onAutomation')
def on_automation(request_id: int, success: bool, result: bytes):
    assert runtime.calling_script_hash == storage.get_uint160(GATEWAY), 'gateway only'
    answer: list = [success, result]
    storage.put(AUTOMATION + to_bytes(StdLib.itoa(request_id)), StdLib.serialize(answer))


@public(name='getAutomation', safe=True)
def get_automation(request_id: int) -> list:
    stored = storage.get(AUTOMATION + to_bytes(StdLib.itoa(request_id)))
    if len(stored) == 0:
        return []
    return cast(list, StdLib.deserialize(stored))


@public(name='compute')
def compute(code_hash: bytes, data: bytes) -> int:
    assert len(code_hash) == 32, 'the code hash is 32 bytes'
    request_id = call_contract(storage.get_uint160(GATEWAY), 'requestService',
                               ['confidential', code_hash + data, 'onCompute'], CallFlags.ALL)
    return cast(int, request_id)


@public(name='onCompute')
def on_compute(request_id: int, success: bool, result: bytes):
    assert runtime.calling_script_hash == storage.get_uint160(GATEWAY), 'gateway only'
    answer: list = [success, result]
    storage.put(COMPUTE + to_bytes(StdLib.itoa(request_id)), StdLib.serialize(answer))


@public(name='getCompute', safe=True)
def get_compute(request_id: int) -> list:
    stored = storage.get(COMPUTE + to_bytes(StdLib.itoa(request_id)))
    if len(stored) == 0:
        return []
    return cast(list, StdLib.deserialize(stored))


@public(name='readPrice', safe=True)
def read_price(pair: str, max_age_seconds: int) -> list:
    service = cast(list, call_contract(storage.get_uint160(GATEWAY), 'getService', ['datafeeds'],
                                       CallFlags.READ_ONLY))
    assert len(service) > 0, 'datafeeds is not registered'
    feeds = cast(UInt160, service[0])
    # [price, decimals, roundId, timestamp]; faults when older than max_age_seconds.
    return cast(list, call_contract(feeds, 'getPriceNoOlderThan', [pair, max_age_seconds], CallFlags.READ_ONLY))


def manifest_metadata() -> NeoMetadata:
    meta = NeoMetadata()
    meta.name = 'ExampleConsumer'
    meta.description = 'Neo Service Layer: the example consumer a dApp copies'
    meta.add_permission(methods=['requestService', 'getService', 'getPriceNoOlderThan'])
    return meta
