"""Independent computation of Neo N3 values with neo-mamba, for the cross-check test.

Reads a JSON request on stdin and prints, for every input, what neo-mamba computes: public keys,
addresses, script hashes and verification scripts of private keys; multi-signature scripts;
hashes, re-serializations and witness validity of signed transactions; NEP-17 transfer scripts.
It never compares anything itself: the Rust test does.
"""

import hashlib
import hmac
import json
import sys

from neo3.contracts import utils as contract_utils
from neo3.core import cryptography, types
from neo3.core import utils as core_utils
from neo3.network.payloads.transaction import Transaction
from neo3.vm import OpCode, ScriptBuilder
from neo3.wallet import utils as wallet_utils
from neo3.wallet.account import Account


def key_view(item):
    private_key = bytes.fromhex(item["private_key"])
    public_key = cryptography.KeyPair(private_key).public_key
    script = contract_utils.create_signature_redeemscript(public_key)
    script_hash = core_utils.to_script_hash(script)
    return {
        "public_key": public_key.encode_point(True).hex(),
        "verification_script": script.hex(),
        "script_hash_le": script_hash.to_array().hex(),
        "address": wallet_utils.script_hash_to_address(script_hash),
        "wif_private_key": Account.private_key_from_wif(item["wif"]).hex(),
        "address_to_script_hash_le": wallet_utils.address_to_script_hash(item["address"]).to_array().hex(),
    }


def multisig_view(item):
    keys = [cryptography.ECPoint.deserialize_from_bytes(bytes.fromhex(k)) for k in item["public_keys"]]
    script = contract_utils.create_multisig_redeemscript(item["m"], keys)
    return {
        "script": script.hex(),
        "address": wallet_utils.script_hash_to_address(core_utils.to_script_hash(script)),
    }


def transaction_view(item, network):
    raw = bytes.fromhex(item["raw"])
    tx = Transaction.deserialize_from_bytes(raw)
    tx_hash = tx.hash()
    sign_data = network.to_bytes(4, "little") + tx_hash.to_array()
    witnesses_valid = []
    for witness in tx.witnesses:
        invocation = witness.invocation_script
        verification = witness.verification_script
        # single-signature witness: PUSHDATA1 64 <sig>; PUSHDATA1 33 <key> SYSCALL CheckSig
        signature = invocation[2:66]
        public_key = verification[2:35]
        witnesses_valid.append(cryptography.verify_signature(sign_data, signature, public_key))
    return {
        "hash_le": tx_hash.to_array().hex(),
        "reserialized": tx.to_array().hex(),
        "witnesses_valid": witnesses_valid,
        "sender_le": tx.sender.to_array().hex(),
        "network_fee": tx.network_fee,
        "system_fee": tx.system_fee,
        "valid_until_block": tx.valid_until_block,
        "nonce": tx.nonce,
    }


def transfer_view(item):
    token = types.UInt160(bytes.fromhex(item["token_le"]))
    sender = types.UInt160(bytes.fromhex(item["from_le"]))
    receiver = types.UInt160(bytes.fromhex(item["to_le"]))
    sb = ScriptBuilder()
    sb.emit_contract_call_with_args(token, "transfer", [sender, receiver, int(item["amount"]), None])
    sb.emit(OpCode.ASSERT)
    return {"script": sb.to_array().hex()}


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def hkdf_sha256(ikm, salt, info, length):
    """RFC 5869, written out with the standard library (independent of the Rust code)."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def derivation_view(item):
    master = bytes.fromhex(item["master_key"])
    account_id = item["account_id"]
    attempt = 0
    while True:
        info = b"pool-account" if attempt == 0 else f"pool-account/{attempt}".encode()
        scalar = hkdf_sha256(master, account_id.encode(), info, 32)
        if 0 < int.from_bytes(scalar, "big") < P256_ORDER:
            break
        attempt += 1
    public_key = cryptography.KeyPair(scalar).public_key
    script_hash = core_utils.to_script_hash(contract_utils.create_signature_redeemscript(public_key))
    return {
        "public_key": public_key.encode_point(True).hex(),
        "address": wallet_utils.script_hash_to_address(script_hash),
    }


def main():
    request = json.load(sys.stdin)
    network = request["network"]
    print(json.dumps({
        "keys": [key_view(k) for k in request["keys"]],
        "multisig": [multisig_view(m) for m in request["multisig"]],
        "transactions": [transaction_view(t, network) for t in request["transactions"]],
        "transfers": [transfer_view(t) for t in request["transfers"]],
        "derivations": [derivation_view(d) for d in request.get("derivations", [])],
    }))


if __name__ == "__main__":
    main()
