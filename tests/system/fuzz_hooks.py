"""schemathesis hooks of tests/system/test_fuzz.py, loaded through SCHEMATHESIS_HOOKS."""

import itertools
from typing import Any

import schemathesis

from shop.schemas import IDEMPOTENCY_KEY

SENT = itertools.count()


@schemathesis.hook
def map_headers(context: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """Gives each generated write an Idempotency-Key of its own. The fuzzer draws keys from
    a small pool, so it would replay an earlier create whose resource it has deleted since:
    the right answer to a retry, and one the stateful checks cannot tell from a lost
    resource. Replays are tested in tests/integration/test_idempotent_writes.py. A key
    the API must refuse is left as drawn."""
    key = (headers or {}).get("Idempotency-Key")
    if headers is not None and isinstance(key, str) and IDEMPOTENCY_KEY.whole.fullmatch(key):
        suffix = f".{next(SENT)}"
        headers["Idempotency-Key"] = key[:255 - len(suffix)] + suffix
    return headers
