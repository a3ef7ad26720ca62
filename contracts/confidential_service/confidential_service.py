"""ConfidentialService: Confidential compute's contract behind the ServiceLayerGateway.

A contract asks for a computation with requestService("confidential", payload, callback), where
payload is the id of code uploaded off chain (32 bytes: SHA-256 of the uploader and the code's
hash; the uploader names the contracts that may run it) followed by the input. The callback receives, on success,
StdLib.serialize([codeHash, inputHash, secretsHash, output, signature]): the signature is the
Confidential key's over the result message, so anyone can check which code gave which output;
on failure, the failure's stable code.
"""
from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.types import UInt160
from boa3.sc.utils import CreateNewEvent

GATEWAY = b'g'

ComputeRequest = CreateNewEvent(
    [
        ('requestId', int),
        ('requester', UInt160),
        ('codeHash', bytes),
    ],
    'ComputeRequest'
)


@public
def _deploy(data: Any, update: bool):
    if not update:
        storage.put_uint160(GATEWAY, cast(UInt160, data))


def gateway_only():
    assert runtime.calling_script_hash == storage.get_uint160(GATEWAY), 'gateway only'


@public(name='onRequest')
def on_request(request_id: int, requester: UInt160, payload: bytes):
    gateway_only()
    assert len(payload) >= 32, 'the payload is the code hash (32 bytes), then the input'
    ComputeRequest(request_id, requester, payload[:32])


@public(name='onFulfill')
def on_fulfill(request_id: int, success: bool, result: bytes):
    gateway_only()


def manifest_metadata() -> NeoMetadata:
    meta = NeoMetadata()
    meta.name = 'ConfidentialService'
    meta.description = 'Neo Service Layer: confidential computations asked by contracts'
    return meta
