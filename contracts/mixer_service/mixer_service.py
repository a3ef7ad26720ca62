"""MixerService: the bonded dispute path of the Neo Service Layer's Mixer.

Mixing happens off chain through ordinary transfers between pool accounts; nothing here is
touched on the normal path. This contract holds the operator's bond in GAS and settles disputes:

- The Mixer's TEE key is registered by the owner (registerService). A RequestProof is the request
  bytes (StdLib-serialized, decoded here), requestHash = Hash256(requestBytes) and the TEE's
  signature over 'neosl-mixer-request|' + requestHash.
- dispute(requestBytes, requestHash, teeSignature), by the request's user (witness), only after
  the deadline the bytes give (timestamp + mix option + grace), locks the request's total in the
  bond.
- proveFulfilled(requestHash, txidsHash, proofSig): the TEE's signature over
  'neosl-mixer-proof|' + requestHash + txidsHash (the transactions that settled the request)
  ends the dispute; it may also come before any dispute, which then cannot be opened.
- claimCompensation(requestHash), after the dispute has been open for the grace without a proof,
  pays the request's total to its user from the bond, once.
- The bond grows by any GAS transfer to this contract; the owner withdraws only the part not
  locked by open disputes, and only after announcing the amount withdrawDelay earlier.

Request bytes: [domain, version, network, contract, user, targets, net, fee, total, timestamp,
mixOption, grace, deposits, inputTxs, nonce]; times are Unix milliseconds, like runtime.time.
"""
from typing import Any, cast

from boa3.sc import runtime, storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.contracts import ContractManagement, CryptoLib, GasToken, StdLib
from boa3.sc.types import ECPoint, NamedCurveHash, UInt160
from boa3.sc.utils import CreateNewEvent

OWNER = b'o'
KEYS = b'k'
BOND = b'b'
LOCKED = b'l'
DELAY = b'w'
ANNOUNCED = b'a'
DISPUTE = b'd'

SERVICE_ID = 'mixer'
REQUEST_DOMAIN = b'neosl-mixer-request|'
PROOF_DOMAIN = b'neosl-mixer-proof|'
BYTES_DOMAIN = 'neosl-mixer'
VERSION = 1

DISPUTED = 1
PROVED = 2
CLAIMED = 3

ServiceRegistered = CreateNewEvent([('serviceId', str), ('teePubKey', ECPoint)], 'ServiceRegistered')

BondDeposited = CreateNewEvent(
    [('serviceId', str), ('amount', int), ('totalBond', int)],
    'BondDeposited'
)

BondWithdrawalAnnounced = CreateNewEvent(
    [('serviceId', str), ('amount', int), ('availableAt', int)],
    'BondWithdrawalAnnounced'
)

BondWithdrawn = CreateNewEvent(
    [('serviceId', str), ('amount', int), ('totalBond', int)],
    'BondWithdrawn'
)

DisputeOpened = CreateNewEvent(
    [('requestHash', bytes), ('user', UInt160), ('deadline', int)],
    'DisputeOpened'
)

FulfillmentProved = CreateNewEvent(
    [('requestHash', bytes), ('txidsHash', bytes)],
    'FulfillmentProved'
)

CompensationClaimed = CreateNewEvent(
    [('requestHash', bytes), ('user', UInt160), ('amount', int)],
    'CompensationClaimed'
)

BondSlashed = CreateNewEvent(
    [('serviceId', str), ('slashedAmount', int), ('remainingBond', int)],
    'BondSlashed'
)


@public
def _deploy(data: Any, update: bool):
    if not update:
        config = cast(list, data)
        storage.put_uint160(OWNER, cast(UInt160, config[0]))
        storage.put_int(DELAY, cast(int, config[1]))


def owner_only():
    assert runtime.check_witness(storage.get_uint160(OWNER)), 'owner only'


@public
def update(nef_file: bytes, manifest: bytes, data: Any):
    owner_only()
    ContractManagement.update(nef_file, manifest, data)


@public(name='getOwner', safe=True)
def get_owner() -> UInt160:
    return storage.get_uint160(OWNER)


def read_keys() -> list:
    stored = storage.get(KEYS)
    if len(stored) == 0:
        return []
    return cast(list, StdLib.deserialize(stored))


@public(name='registerService')
def register_service(tee_pub_key: ECPoint):
    """Adds a TEE key; keys are never removed, so every RequestProof ever issued stays usable."""
    owner_only()
    keys = read_keys()
    for existing in keys:
        if cast(ECPoint, existing) == tee_pub_key:
            return
    keys.append(tee_pub_key)
    storage.put(KEYS, StdLib.serialize(keys))
    ServiceRegistered(SERVICE_ID, tee_pub_key)


@public(name='getKeys', safe=True)
def get_keys() -> list:
    return read_keys()


def signed_by_tee(message: bytes, signature: bytes) -> bool:
    for key in read_keys():
        if CryptoLib.verify_with_ecdsa(message, cast(ECPoint, key), signature, NamedCurveHash.SECP256R1SHA256):
            return True
    return False


def hash256(data: bytes) -> bytes:
    return CryptoLib.sha256(CryptoLib.sha256(data))


@public(name='onNEP17Payment')
def on_nep17_payment(from_address: UInt160, amount: int, data: Any):
    assert runtime.calling_script_hash == GasToken.hash, 'only GAS backs the bond'
    assert amount > 0, 'amount must be positive'
    total = storage.get_int(BOND) + amount
    storage.put_int(BOND, total)
    BondDeposited(SERVICE_ID, amount, total)


@public(name='getBond', safe=True)
def get_bond() -> list:
    """[bond, locked by open disputes, announced withdrawal, when it may be withdrawn]."""
    announced = read_announced()
    amount = 0
    available_at = 0
    if len(announced) > 0:
        amount = cast(int, announced[0])
        available_at = cast(int, announced[1])
    answer: list = [storage.get_int(BOND), storage.get_int(LOCKED), amount, available_at]
    return answer


def read_announced() -> list:
    stored = storage.get(ANNOUNCED)
    if len(stored) == 0:
        return []
    return cast(list, StdLib.deserialize(stored))


@public(name='announceWithdrawal')
def announce_withdrawal(amount: int):
    owner_only()
    assert amount > 0, 'amount must be positive'
    available_at = runtime.time + storage.get_int(DELAY)
    record: list = [amount, available_at]
    storage.put(ANNOUNCED, StdLib.serialize(record))
    BondWithdrawalAnnounced(SERVICE_ID, amount, available_at)


@public(name='withdrawBond')
def withdraw_bond(to: UInt160):
    owner_only()
    announced = read_announced()
    assert len(announced) > 0, 'no withdrawal announced'
    amount = cast(int, announced[0])
    assert runtime.time >= cast(int, announced[1]), 'withdrawal not yet available'
    bond = storage.get_int(BOND)
    assert amount <= bond - storage.get_int(LOCKED), 'the bond backs open disputes'
    storage.delete(ANNOUNCED)
    storage.put_int(BOND, bond - amount)
    assert GasToken.transfer(runtime.executing_script_hash, to, amount, None), 'transfer failed'
    BondWithdrawn(SERVICE_ID, amount, bond - amount)


def read_dispute(request_hash: bytes) -> list:
    stored = storage.get(DISPUTE + request_hash)
    if len(stored) == 0:
        return []
    return cast(list, StdLib.deserialize(stored))


def write_dispute(request_hash: bytes, record: list):
    storage.put(DISPUTE + request_hash, StdLib.serialize(record))


@public(name='getDispute', safe=True)
def get_dispute(request_hash: bytes) -> list:
    """[state (1 disputed, 2 proved, 3 claimed), user, total, deadline, disputedAt, grace,
    txidsHash], or [] when nothing is known."""
    return read_dispute(request_hash)


@public
def dispute(request_bytes: bytes, request_hash: bytes, tee_signature: bytes):
    assert len(request_hash) == 32, 'a request hash is 32 bytes'
    assert hash256(request_bytes) == request_hash, 'request bytes do not match the hash'
    assert signed_by_tee(REQUEST_DOMAIN + request_hash, tee_signature), 'bad TEE signature'
    request = cast(list, StdLib.deserialize(request_bytes))
    assert len(request) == 15, 'not a mixer request'
    assert cast(str, request[0]) == BYTES_DOMAIN, 'not a mixer request'
    assert cast(int, request[1]) == VERSION, 'unknown request version'
    assert cast(int, request[2]) == runtime.get_network(), 'request for another network'
    assert cast(bytes, request[3]) == runtime.executing_script_hash, 'request for another contract'
    user = cast(UInt160, request[4])
    total = cast(int, request[8])
    grace = cast(int, request[11])
    deadline = cast(int, request[9]) + cast(int, request[10]) + grace
    assert runtime.time > deadline, 'the deadline has not passed'
    assert runtime.check_witness(user), 'only the user disputes'
    assert len(read_dispute(request_hash)) == 0, 'already disputed or proved'
    record: list = [DISPUTED, user, total, deadline, runtime.time, grace, b'']
    write_dispute(request_hash, record)
    storage.put_int(LOCKED, storage.get_int(LOCKED) + total)
    DisputeOpened(request_hash, user, deadline)


@public(name='proveFulfilled')
def prove_fulfilled(request_hash: bytes, txids_hash: bytes, proof_sig: bytes):
    assert len(request_hash) == 32, 'a request hash is 32 bytes'
    assert len(txids_hash) == 32, 'a txids hash is 32 bytes'
    assert signed_by_tee(PROOF_DOMAIN + request_hash + txids_hash, proof_sig), 'bad proof signature'
    record = read_dispute(request_hash)
    if len(record) == 0:
        proved: list = [PROVED, UInt160(), 0, 0, 0, 0, txids_hash]
        write_dispute(request_hash, proved)
    else:
        state = cast(int, record[0])
        assert state != CLAIMED, 'already compensated'
        assert state != PROVED, 'already proved'
        record[0] = PROVED
        record[6] = txids_hash
        write_dispute(request_hash, record)
        storage.put_int(LOCKED, storage.get_int(LOCKED) - cast(int, record[2]))
    FulfillmentProved(request_hash, txids_hash)


@public(name='claimCompensation')
def claim_compensation(request_hash: bytes):
    record = read_dispute(request_hash)
    assert len(record) > 0, 'not disputed'
    state = cast(int, record[0])
    assert state != PROVED, 'fulfilment was proved'
    assert state != CLAIMED, 'already compensated'
    assert runtime.time > cast(int, record[4]) + cast(int, record[5]), 'the grace has not passed'
    user = cast(UInt160, record[1])
    amount = cast(int, record[2])
    bond = storage.get_int(BOND)
    assert amount <= bond, 'the bond cannot cover it'
    record[0] = CLAIMED
    write_dispute(request_hash, record)
    storage.put_int(BOND, bond - amount)
    storage.put_int(LOCKED, storage.get_int(LOCKED) - amount)
    assert GasToken.transfer(runtime.executing_script_hash, user, amount, None), 'transfer failed'
    CompensationClaimed(request_hash, user, amount)
    BondSlashed(SERVICE_ID, amount, bond - amount)


def manifest_metadata() -> NeoMetadata:
    meta = NeoMetadata()
    meta.name = 'MixerService'
    meta.description = 'Neo Service Layer: the Mixer operator bond and its dispute path'
    meta.add_permission(contract='0xd2a4cff31913016155e38e474a2c06d08be276cf', methods=['transfer'])
    return meta
