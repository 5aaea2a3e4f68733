"""The check character of a Chinese resident ID number (公民身份号码, GB 11643-1999): ISO 7064 MOD 11-2.

Here rather than in api because both the sample generator (which may not import api) and the API's validation
(api.residents.idcard) need the same computation; one copy keeps them from drifting apart.
"""

import numpy as np

__all__ = ["WEIGHTS", "check_character", "check_characters"]

WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)])  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
CHARACTERS = np.array(list("10X98765432"))  # the check character for each weighted sum modulo 11


def check_character(first17: str) -> str:
    """The 18th character for the first 17 digits ('X' stands for 10)."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("the check character needs exactly 17 digits")
    total = sum(int(d) * int(w) for d, w in zip(first17, WEIGHTS, strict=True))
    return str(CHARACTERS[total % 11])


def check_characters(digits: np.ndarray) -> np.ndarray:
    """Vectorised `check_character` over an (n, 17) array of digits 0–9 (for generating many numbers at once)."""
    digits = np.asarray(digits)
    if digits.ndim != 2 or digits.shape[1] != 17:
        raise ValueError("expected an (n, 17) array of digits")
    return CHARACTERS[(digits.astype(np.int64) @ WEIGHTS) % 11]
