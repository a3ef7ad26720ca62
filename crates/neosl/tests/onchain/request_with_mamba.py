"""Sends ExampleConsumer.requestRandom(words) with neo-mamba alone (an independent Neo client):
the platform must fulfil a request it did not build. Reads {rpc, contract, wif, words} as JSON
on stdin; prints {tx_hash, state, request_id, returned, stack}."""

import asyncio
import json
import sys

from neo3.api import noderpc
from neo3.api.helpers.signing import sign_insecure_with_account
from neo3.api.wrappers import ChainFacade, GenericContract
from neo3.core import types
from neo3.network.payloads.verification import Signer, WitnessScope
from neo3.wallet.account import Account

_version_from_json = noderpc.GetVersionResponse.from_json.__func__


def _version_from_neogo(cls, json):
    # neo-mamba 2.7 reads getversion's "rpc" object, which NeoGo 0.105 does not send; the
    # defaults below are what this script needs (it opens no iterator sessions).
    json.setdefault("rpc", {"sessionenabled": False, "maxiteratorresultitems": 100})
    json["protocol"].setdefault("hardforks", [])
    return _version_from_json(cls, json)


noderpc.GetVersionResponse.from_json = classmethod(_version_from_neogo)


async def main(request):
    account = Account.from_wif(request["wif"], "x")
    facade = ChainFacade(rpc_host=request["rpc"], receipt_retry_delay=0.1, receipt_timeout=30)
    facade.add_signer(
        sign_insecure_with_account(account, "x"),
        Signer(account.script_hash, WitnessScope.CALLED_BY_ENTRY),
    )
    contract = GenericContract(types.UInt160.from_string(request["contract"]))
    # ExampleConsumer seeds each request with runtime.get_random(), whose decimal text differs in
    # length between neo-mamba's test run and the real one, and so does the storage it pays for:
    # neo-mamba takes the test run's GAS exactly, so a margin keeps the real run from running out.
    receipt = await facade.invoke(
        contract.call_function("requestRandom", [request["words"]]),
        append_system_fee=1_000_000,
    )
    # The id as the gateway announced it (ServiceRequest), and as the call returned it.
    announced = [
        n.state.as_list()[0].as_int()
        for n in receipt.notifications
        if n.event_name == "ServiceRequest"
    ]
    stack = receipt.result.stack
    returned = stack[0].as_int() if stack and stack[0].type.name == "INTEGER" else None
    print(json.dumps({
        "tx_hash": str(receipt.tx_hash),
        "state": str(receipt.state),
        "request_id": announced[0] if len(announced) == 1 else None,
        "returned": returned,
        "stack": repr(stack),
    }))

asyncio.run(main(json.load(sys.stdin)))
