"""A counter for the Automation tests: increment(by) adds to a total and emits Counted.

Compiled with neo3-boa by the tests; the build output is not committed.
"""
from boa3.sc import storage
from boa3.sc.compiletime import NeoMetadata, public
from boa3.sc.utils import CreateNewEvent

TOTAL = b't'

Counted = CreateNewEvent(
    [
        ('total', int),
        ('by', int),
    ],
    'Counted'
)


@public
def increment(by: int) -> int:
    assert by > 0, 'by must be positive'
    total = storage.get_int(TOTAL) + by
    storage.put_int(TOTAL, total)
    Counted(total, by)
    return total


@public(safe=True)
def total() -> int:
    return storage.get_int(TOTAL)


@public
def explode(by: int) -> int:
    assert by < 0, 'boom'
    return by


def manifest_metadata() -> NeoMetadata:
    meta = NeoMetadata()
    meta.name = 'NeoslTestCounter'
    meta.description = 'A counter for the Neo Service Layer automation tests'
    return meta
