"""A small deterministic encoder for tests where the encoder is not what they check
(locks, commits, repair, CLI rendering, walks): hashed word features, so texts sharing
words are near each other and a search for a function's words still finds it, with no
model to load. Registered in conftest as FAKE; the end-to-end tests keep the real MiniLM.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

import numpy as np

from embedsearch.encoders import EncoderInfo

FAKE = "test-hashing"
DIM = 64
_WORD = re.compile(r"[A-Za-z][a-z]*|[0-9]+")


class HashingEncoder:
    """Each word (identifiers split at case changes and underscores) adds ±1 to one of DIM
    coordinates chosen by its hash; rows are then scaled to unit length."""

    def __init__(self) -> None:
        self.info = EncoderInfo(FAKE, DIM, 256, digest="hashing-v1-64")

    def encode(self, texts: Sequence[str], batch_size: int = 32,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)  # (n, DIM)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text):
                h = int.from_bytes(hashlib.blake2b(word.lower().encode(), digest_size=4).digest(), "little")
                out[i, h % DIM] += 1.0 if h & 1 << 31 else -1.0
            if not out[i].any():
                out[i, 0] = 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        if progress:
            progress(len(texts))
        return out

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(t)) + 2 for t in texts]
