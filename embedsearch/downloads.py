"""Public data sets fetched on first use, checked against their published digests, and kept
in the user's cache folder (platformdirs): MovieLens 100K for the CF commands, the standard
word benchmarks for `eval analogies` / `eval similarity`. Nothing else downloads."""

from __future__ import annotations

import os
from pathlib import Path

from embedsearch.errors import EmbedsearchError

GENSIM_DATA = "https://raw.githubusercontent.com/piskvorky/gensim/37f90ec121eb7cd401448a947e80953e0c53ccdc/gensim/test/test_data"
# the word benchmarks as gensim's test data ships them (its evaluate_word_analogies and
# evaluate_word_pairs read these exact files): name -> sha256
WORD_BENCHMARKS = {
    "questions-words.txt": "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
    "wordsim353.tsv": "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
    "simlex999.txt": "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
}


def datasets_dir() -> Path:
    """Where downloaded data sets live: $EMBEDSEARCH_DATA, else platformdirs' user cache
    folder for embedsearch (~/.cache/embedsearch/datasets on Linux)."""
    env = os.environ.get("EMBEDSEARCH_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("embedsearch")) / "datasets"


def download(url: str, known_hash: str, dest: Path, what: str, hint: str, fname: str | None = None) -> Path:
    """`url` saved under `dest` (pooch: kept once fetched, its digest checked every time it is
    fetched), or one error line naming what failed and what to do instead."""
    import pooch

    try:
        return Path(pooch.retrieve(url, known_hash=known_hash, fname=fname, path=dest, progressbar=False))
    except ValueError as exc:  # pooch's digest mismatch
        raise EmbedsearchError(f"the downloaded {what} failed its digest check: {exc}") from None
    except Exception as exc:  # network errors come in many types
        raise EmbedsearchError(f"could not download {what} from {url} ({type(exc).__name__}: {exc}); {hint}") from None


def word_benchmark(name: str, option: str) -> Path:
    """A standard word benchmark file: from $EMBEDSEARCH_WORD_BENCHMARKS when set (a folder
    holding it), else downloaded once into the data folder (sha256-checked)."""
    folder = os.environ.get("EMBEDSEARCH_WORD_BENCHMARKS")
    if folder:
        path = Path(folder).expanduser() / name
        if not path.is_file():
            raise EmbedsearchError(f"no {name} in {folder} ($EMBEDSEARCH_WORD_BENCHMARKS); give the file with {option}")
        return path
    dest = datasets_dir() / "word-benchmarks"
    if (dest / name).is_file():
        from embedsearch.fileio import file_digest

        if file_digest(dest / name) == WORD_BENCHMARKS[name]:
            return dest / name
    return download(f"{GENSIM_DATA}/{name}", f"sha256:{WORD_BENCHMARKS[name]}", dest, name,
                    f"give the file with {option}", fname=name)
