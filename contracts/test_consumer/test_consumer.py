"""A consumer for the platform's failure tests: its callbacks raise, fault, or succeed on
request. Compiled by the tests; never deployed anywhere else."""
from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import StdLib
from boa3.sc.types import CallFlags, UInt160
from boa3.sc.utils import CreateNewEvent, call_contract, to_bytes

GATEWAY = b'g'
SEEN = b's'

Answered = CreateNewEvent([('requestId', int)], 'Answered')


@public
def _deploy(data: Any, update: bool):
    if not update:
        storage.put_uint160(GATEWAY, cast(UInt160, data))


@public(name='request')
def request(num_words: int, callback: str) -> int:
    payload_list: list = [b'test', num_words]
    request_id = call_contract(storage.get_uint160(GATEWAY), 'requestService',
                               ['vrf', StdLib.serialize(payload_list), callback], CallFlags.ALL)
    return cast(int, request_id)


@public(name='onRaise')
def on_raise(request_id: int, success: bool, result: bytes):
    raise Exception('the consumer refuses')


@public(name='onAssert')
def on_assert(request_id: int, success: bool, result: bytes):
    assert False, 'the consumer faults'


@public(name='onAnswer')
def on_answer(request_id: int, success: bool, result: bytes):
    assert runtime.calling_script_hash == storage.get_uint160(GATEWAY), 'gateway only'
    storage.put(SEEN + to_bytes(StdLib.itoa(request_id)), result)
    Answered(request_id)


@public(name='answered', safe=True)
def answered(request_id: int) -> bytes:
    return storage.get(SEEN + to_bytes(StdLib.itoa(request_id)))


def manifest_metadata() -> NeoMetadata:
    meta = NeoMetadata()
    meta.name = 'NeoslTestConsumer'
    meta.description = 'Consumer callbacks that raise and fault, for the platform tests'
    meta.add_permission(methods=['requestService'])
    return meta
