"""Residents' personal data without a database: ID numbers and phones checked, written one way and masked, and
residents' registers (花名册, XLSX or CSV) read into one checked table or refused whole. The storage and the API
call these; masking follows the privacy conventions (张*丰, 138****5678, 110105********1234)."""

from api.privacy import mask_name
from api.residents.idcard import (
    IdNumber,
    check_id_number,
    id_number_hash,
    id_number_hashes,
    mask_id_number,
    normalise_id_number,
)
from api.residents.phone import Phone, check_phone, mask_phone, normalise_phone
from api.residents.register import MAX_BYTES, MAX_ROWS, RESIDENT_COLUMNS, Register, read_register
from api.residents.sample import stored_residents
from api.residents.vocabulary import TAG_LABELS

__all__ = [
    "MAX_BYTES",
    "MAX_ROWS",
    "RESIDENT_COLUMNS",
    "TAG_LABELS",
    "IdNumber",
    "Phone",
    "Register",
    "check_id_number",
    "check_phone",
    "id_number_hash",
    "id_number_hashes",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "normalise_id_number",
    "normalise_phone",
    "read_register",
    "stored_residents",
]
