"""ServiceLayerGateway: the one entry point of the Neo Service Layer for contracts.

A user contract calls requestService(serviceId, payload, callbackMethod). The gateway gives the
request an increasing id, stores it and hands it to the service's contract (onRequest), which
emits the service's own event. The platform's enclave serves it off chain and a registered TEE
account sends fulfillRequest with the result signed by the service's TEE key; the gateway checks
the signature with CryptoLib, stores the result (readable with getRequest whatever the callback
does), tells the service contract (onFulfill) and calls the requester's callback. A callback that
raises is caught and the request recorded as callback_failed; one that would fault is found off
chain first and the fulfilment sent without it (skipReason names why).

Statuses: 0 pending, 1 fulfilled, 2 callback_failed, 3 expired.
"""
from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import ContractManagement, CryptoLib, StdLib
from boa3.sc.types import CallFlags, ECPoint, NamedCurveHash, Signer, UInt160
from boa3.sc.utils import CreateNewEvent, call_contract, to_bytes

PENDING = 0
FULFILLED = 1
CALLBACK_FAILED = 2
EXPIRED = 3

OWNER = b'o'
COUNTER = b'c'
TIMEOUT = b'd'
SERVICE = b's'
TEE_ACCOUNT = b't'
REQUEST = b'r'

DEFAULT_TIMEOUT = 3600000  # one hour, in milliseconds
DOMAIN = b'neosl-fulfil|'

ServiceRequest = CreateNewEvent(
    [
        ('requestId', int),
        ('requester', UInt160),
        ('serviceId', str),
        ('payload', bytes),
        ('callbackMethod', str),
        ('deadline', int),
    ],
    'ServiceRequest'
)

RequestFulfilled = CreateNewEvent(
    [
        ('requestId', int),
        ('success', bool),
        ('status', int),
        ('reason', str),
    ],
    'RequestFulfilled'
)

RequestExpired = CreateNewEvent([('requestId', int)], 'RequestExpired')

ServiceRegistered = CreateNewEvent(
    [('serviceId', str), ('contract', UInt160)],
    'ServiceRegistered'
)

TeeKeyAdded = CreateNewEvent([('serviceId', str), ('key', ECPoint)], 'TeeKeyAdded')

TeeKeyRetired = CreateNewEvent([('serviceId', str), ('key', ECPoint)], 'TeeKeyRetired')

TeeAccountAdded = CreateNewEvent([('account', UInt160)], 'TeeAccountAdded')

TeeAccountRemoved = CreateNewEvent([('account', UInt160)], 'TeeAccountRemoved')


@public
def _deploy(data: Any, update: bool):
    if not update:
        storage.put_uint160(OWNER, cast(UInt160, data))
        storage.put_int(TIMEOUT, DEFAULT_TIMEOUT)


def owner_only():
    assert runtime.check_witness(storage.get_uint160(OWNER)), 'owner only'


@public
def update(nef_file: bytes, manifest: bytes, data: Any):
    owner_only()
    ContractManagement.update(nef_file, manifest, data)


@public(name='getOwner', safe=True)
def get_owner() -> UInt160:
    return storage.get_uint160(OWNER)


@public(name='setRequestTimeout')
def set_request_timeout(milliseconds: int):
    owner_only()
    assert milliseconds > 0, 'timeout must be positive'
    storage.put_int(TIMEOUT, milliseconds)


def service_key(service_id: str) -> bytes:
    return SERVICE + to_bytes(service_id)


def read_service(service_id: str) -> list:
    record = storage.get(service_key(service_id))
    if len(record) == 0:
        return []
    return cast(list, StdLib.deserialize(record))


@public(name='registerService')
def register_service(service_id: str, contract: UInt160):
    owner_only()
    assert len(service_id) > 0, 'empty service id'
    record = read_service(service_id)
    keys: list = []
    if len(record) > 0:
        keys = cast(list, record[1])
    stored: list = [contract, keys]
    storage.put(service_key(service_id), StdLib.serialize(stored))
    ServiceRegistered(service_id, contract)


@public(name='addTeeKey')
def add_tee_key(service_id: str, key: ECPoint):
    owner_only()
    record = read_service(service_id)
    assert len(record) > 0, 'unknown service'
    keys = cast(list, record[1])
    for existing in keys:
        if cast(ECPoint, existing) == key:
            return
    keys.append(key)
    stored: list = [record[0], keys]
    storage.put(service_key(service_id), StdLib.serialize(stored))
    TeeKeyAdded(service_id, key)


@public(name='retireTeeKey')
def retire_tee_key(service_id: str, key: ECPoint):
    owner_only()
    record = read_service(service_id)
    assert len(record) > 0, 'unknown service'
    keys = cast(list, record[1])
    kept: list = []
    for existing in keys:
        if cast(ECPoint, existing) != key:
            kept.append(existing)
    stored: list = [record[0], kept]
    storage.put(service_key(service_id), StdLib.serialize(stored))
    TeeKeyRetired(service_id, key)


@public(name='getService', safe=True)
def get_service(service_id: str) -> list:
    return read_service(service_id)


@public(name='addTeeAccount')
def add_tee_account(account: UInt160):
    owner_only()
    storage.put_bool(TEE_ACCOUNT + account, True)
    TeeAccountAdded(account)


@public(name='removeTeeAccount')
def remove_tee_account(account: UInt160):
    owner_only()
    storage.delete(TEE_ACCOUNT + account)
    TeeAccountRemoved(account)


@public(name='isTeeAccount', safe=True)
def is_tee_account(account: UInt160) -> bool:
    return storage.get_bool(TEE_ACCOUNT + account)


def request_key(request_id: int) -> bytes:
    return REQUEST + to_bytes(StdLib.itoa(request_id))


def read_request(request_id: int) -> list:
    record = storage.get(request_key(request_id))
    if len(record) == 0:
        return []
    return cast(list, StdLib.deserialize(record))


@public(name='requestService')
def request_service(service_id: str, payload: bytes, callback_method: str) -> int:
    record = read_service(service_id)
    assert len(record) > 0, 'unknown service'
    assert len(callback_method) > 0, 'a callback method is required'
    assert len(payload) <= 4096, 'payload too large'
    requester = runtime.calling_script_hash
    request_id = storage.get_int(COUNTER) + 1
    storage.put_int(COUNTER, request_id)
    deadline = runtime.time + storage.get_int(TIMEOUT)
    stored: list = [requester, service_id, payload, callback_method, deadline, PENDING, False, b'', '']
    storage.put(request_key(request_id), StdLib.serialize(stored))
    ServiceRequest(request_id, requester, service_id, payload, callback_method, deadline)
    call_contract(cast(UInt160, record[0]), 'onRequest', [request_id, requester, payload], CallFlags.ALL)
    return request_id


@public(name='getRequest', safe=True)
def get_request(request_id: int) -> list:
    return read_request(request_id)


@public(name='getRequestCount', safe=True)
def get_request_count() -> int:
    return storage.get_int(COUNTER)


def fulfilment_message(request_id: int, success: bool, result: bytes) -> bytes:
    flag = b'0'
    if success:
        flag = b'1'
    return (DOMAIN + to_bytes(StdLib.itoa(runtime.get_network())) + b'|' + runtime.executing_script_hash
            + to_bytes(StdLib.itoa(request_id)) + b'|' + flag + b'|' + result)


@public(name='fulfillRequest')
def fulfill_request(request_id: int, success: bool, result: bytes, signature: bytes, skip_reason: str) -> int:
    signers = runtime.get_current_signers()
    assert len(signers) > 0, 'no signer'
    first: Signer = signers[0]
    sender = first.account
    assert is_tee_account(sender), 'not a TEE account'
    assert runtime.check_witness(sender), 'no witness of the TEE account'
    request = read_request(request_id)
    assert len(request) > 0, 'unknown request'
    assert cast(int, request[5]) == PENDING, 'not pending'
    assert runtime.time <= cast(int, request[4]), 'expired'
    service_id = cast(str, request[1])
    record = read_service(service_id)
    message = fulfilment_message(request_id, success, result)
    verified = False
    for key in cast(list, record[1]):
        if not verified:
            if CryptoLib.verify_with_ecdsa(message, cast(ECPoint, key), signature, NamedCurveHash.SECP256R1SHA256):
                verified = True
    assert verified, 'bad signature'
    status = FULFILLED
    reason = skip_reason
    if len(skip_reason) > 0:
        status = CALLBACK_FAILED
    # Written before any external call: a replay now faults on "not pending".
    stored: list = [request[0], service_id, request[2], request[3], request[4], status, success, result, reason]
    storage.put(request_key(request_id), StdLib.serialize(stored))
    call_contract(cast(UInt160, record[0]), 'onFulfill', [request_id, success, result], CallFlags.ALL)
    if status == FULFILLED:
        try:
            call_contract(cast(UInt160, request[0]), cast(str, request[3]), [request_id, success, result],
                          CallFlags.ALL)
        except:
            status = CALLBACK_FAILED
            reason = 'the callback raised'
            failed: list = [request[0], service_id, request[2], request[3], request[4], status, success, result,
                            reason]
            storage.put(request_key(request_id), StdLib.serialize(failed))
    RequestFulfilled(request_id, success, status, reason)
    return status


@public(name='expireRequest')
def expire_request(request_id: int):
    request = read_request(request_id)
    assert len(request) > 0, 'unknown request'
    assert cast(int, request[5]) == PENDING, 'not pending'
    assert runtime.time > cast(int, request[4]), 'not past its deadline'
    stored: list = [request[0], request[1], request[2], request[3], request[4], EXPIRED, False, b'', 'expired']
    storage.put(request_key(request_id), StdLib.serialize(stored))
    RequestExpired(request_id)


def manifest_metadata() -> NeoMetadata:
    meta = NeoMetadata()
    meta.name = 'ServiceLayerGateway'
    meta.description = 'Neo Service Layer: requests from contracts, fulfilments from the enclave'
    meta.add_permission(contract='*', methods='*')
    return meta
