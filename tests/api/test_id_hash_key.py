"""api.settings.id_hash_key: the key of ID-number hashes refused in one line outside development when missing,
short or a placeholder; in development without one, a key made once in an owner-only file and kept."""

import logging
import stat

import pytest

from api.errors import InsecureConfiguration
from api.settings import Settings, id_hash_key

GOOD = "Vb3-Qx8rT1mZ6kN0wY4hJ7cF2sD9gL5pA-e"


def test_production_takes_a_proper_key_and_refuses_others_in_one_line(tmp_path):
    key_file = tmp_path / "id_hash_key"
    assert id_hash_key(Settings(environment="production", id_hash_key=GOOD), key_file=key_file) == GOOD.encode()
    for bad in (None, "change-me", "x" * 40, "change-me-to-a-long-random-value-of-48-characters", "Tq9zKw2x"):
        with pytest.raises(InsecureConfiguration) as refused:
            id_hash_key(Settings(environment="production", id_hash_key=bad), key_file=key_file)
        message = str(refused.value)
        assert message.startswith("GRIDMAP_ID_HASH_KEY ") and "\n" not in message
        assert bad is None or bad not in message
    assert not key_file.exists()  # production never makes one up


def test_development_keeps_one_key_in_an_owner_only_file(tmp_path, caplog):
    key_file = tmp_path / ".gridmap" / "id_hash_key"
    with caplog.at_level(logging.WARNING, logger="gridmap"):
        first = id_hash_key(Settings(), key_file=key_file)
    assert len(first) >= 32 and "made a key for development" in caplog.text
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert id_hash_key(Settings(), key_file=key_file) == first  # stable across runs: re-imports depend on it
    assert first.decode() not in caplog.text


def test_development_uses_a_set_key_and_refuses_one_too_short_to_hash_with(tmp_path):
    key_file = tmp_path / "id_hash_key"
    assert id_hash_key(Settings(id_hash_key=GOOD), key_file=key_file) == GOOD.encode()
    assert id_hash_key(Settings(id_hash_key="change-me-but-long-enough"), key_file=key_file)  # warned, used
    with pytest.raises(InsecureConfiguration):
        id_hash_key(Settings(id_hash_key="tiny"), key_file=key_file)
    key_file.write_text("short\n")
    with pytest.raises(InsecureConfiguration, match="delete it"):
        id_hash_key(Settings(), key_file=key_file)
