"""api.offline: the same content gives the same hash whatever the key order or spacing; any change gives another."""

from api.offline import canonical_json, payload_sha256


def test_the_hash_ignores_order_and_spacing_and_sees_every_change():
    a = {"client_id": "c", "notes": "走访 <b>", "location": {"type": "Point", "coordinates": [116.4, 39.9]}}
    b = {"location": {"coordinates": [116.4, 39.9], "type": "Point"}, "notes": "走访 <b>", "client_id": "c"}
    assert payload_sha256(a) == payload_sha256(b) and len(payload_sha256(a)) == 64
    assert payload_sha256(a) != payload_sha256(a | {"notes": "走访 <b> "})
    assert payload_sha256(a) != payload_sha256(a | {"kind": None})
    assert canonical_json({"b": 1, "a": "中"}) == '{"a":"中","b":1}'
