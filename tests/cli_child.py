"""The embedsearch CLI in a child process with the fake encoder registered, for tests that
race real processes without loading a model.

usage: python -m tests.cli_child [--encode-delay SECONDS] ARGS...
`--encode-delay` makes every encode call that much slower, so a writer holds its lock long
enough for another to arrive while it works.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    from embedsearch.cli import main as cli
    from embedsearch.encoders import register_encoder
    from tests.fake_encoder import FAKE, HashingEncoder

    args = sys.argv[1:]
    delay = 0.0
    if args[:1] == ["--encode-delay"]:
        delay, args = float(args[1]), args[2:]

    class SlowEncoder(HashingEncoder):
        def encode(self, texts, batch_size=32, progress=None):
            time.sleep(delay)
            return super().encode(texts, batch_size, progress)

    register_encoder(FAKE, SlowEncoder)
    sys.argv = ["embedsearch", *args]  # what a lock holder records of itself: the command a user typed
    cli(args, prog_name="embedsearch")


if __name__ == "__main__":
    main()
