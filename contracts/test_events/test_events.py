"""A small contract for the chain client's tests: it computes, and it emits events.

Compiled with neo3-boa (PyPI) by the test set-up; the build output is not committed.
"""
from typing import Any

from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.utils import CreateNewEvent

Ping = CreateNewEvent(
    [
        ('tag', int),
        ('sequence', int),
    ],
    'Ping'
)

Added = CreateNewEvent(
    [
        ('a', int),
        ('b', int),
        ('sum', int),
    ],
    'Added'
)


@public
def add(a: int, b: int) -> int:
    total = a + b
    Added(a, b, total)
    return total


@public
def ping(tag: int, count: int) -> int:
    for i in range(count):
        Ping(tag, i)
    return count


@public
def fail(reason: str) -> int:
    assert False, reason
    return 0


def manifest_metadata() -> NeoMetadata:
    meta = NeoMetadata()
    meta.name = 'NeoslTestEvents'
    meta.description = 'Emits events for the Neo Service Layer tests'
    return meta
