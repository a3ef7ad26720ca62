"""AutomationService: the Automation service's contract behind the ServiceLayerGateway.

A contract registers a trigger on chain with requestService("automation", payload, callback),
where payload is the trigger as JSON bytes (the body of POST /automation/triggers). The trigger
belongs to the requesting contract: its GasBank account (contract:<hash>) pays for every
execution. The callback receives success and the trigger id, or the refusal's stable code.
"""
from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.types import UInt160
from boa3.sc.utils import CreateNewEvent

GATEWAY = b'g'

AutomationRequest = CreateNewEvent(
    [
        ('requestId', int),
        ('requester', UInt160),
        ('trigger', bytes),
    ],
    'AutomationRequest'
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
    assert len(payload) > 0, 'the payload is the trigger as JSON'
    assert len(payload) <= 4096, 'a trigger is at most 4096 bytes'
    AutomationRequest(request_id, requester, payload)


@public(name='onFulfill')
def on_fulfill(request_id: int, success: bool, result: bytes):
    gateway_only()


def manifest_metadata() -> NeoMetadata:
    meta = NeoMetadata()
    meta.name = 'AutomationService'
    meta.description = 'Neo Service Layer: triggers registered by contracts'
    return meta
