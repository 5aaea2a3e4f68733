"""Entries made offline on a phone (visits, hazards, requests) carry a ``client_id`` (a UUID the phone makes): a
retry is the same entry. The server keeps the SHA-256 of the entry's canonical JSON, so that a retry of the same
content gets the original back (200) and a different entry under a used client_id is refused (409
``client_id_conflict``) instead of silently replacing or duplicating anything (../shared/research/ecosys.md §4.4)."""

import hashlib
import json
from typing import Any


def canonical_json(payload: Any) -> str:
    """The entry as JSON with sorted keys and no spaces: the same content gives the same text, whatever order or
    spacing the phone sent."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_sha256(payload: Any) -> str:
    """Hex SHA-256 of `canonical_json` (of the entry as validated, e.g. ``model.model_dump(mode="json")``)."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()
