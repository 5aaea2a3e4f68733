"""The sample's fictional residents in the form residents are stored: the ID number as its keyed hash and masked,
never in clear. The sample goes the way real residents go, so the demo shows what real data would show."""

import pandas as pd

from api.residents.idcard import id_number_hashes, mask_id_number

__all__ = ["STORED_COLUMNS", "stored_residents"]

STORED_COLUMNS = [
    "source_id", "household_ref", "name", "gender", "birth_year", "phone", "id_hash", "id_masked", "tags", "relation",
]  # fmt: skip


def stored_residents(residents: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """The sample's ``residents`` frame (gis.sample) with ``id_hash`` and ``id_masked`` in place of ``id_number``.

    The generator's numbers are valid by construction (tests/gis check them), so they are hashed without being
    checked again (`id_number_hashes`)."""
    numbers = residents["id_number"]
    given = numbers.notna().to_numpy()
    hashes = pd.Series(None, index=residents.index, dtype=object)
    hashes[given] = id_number_hashes(numbers[given], key)
    stored = residents.assign(
        id_hash=hashes,
        id_masked=[mask_id_number(n) if isinstance(n, str) else None for n in numbers],
        phone=residents["phone"].astype(object).where(residents["phone"].notna(), None),
    )
    return stored[STORED_COLUMNS].reset_index(drop=True)
