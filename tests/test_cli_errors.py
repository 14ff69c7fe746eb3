"""Every command, walked with wrong arguments: usage errors exit 2, user errors exit 1 with
one line, and nothing prints a traceback."""

from __future__ import annotations

import click
import pytest

from embedsearch.cli import main
from tests.fake_encoder import FAKE


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # commands load on demand: ask the group, as --help does
        cmd = group.get_command(ctx, name)
        path = prefix + (name,)
        yield path, cmd
        if isinstance(cmd, click.Group):
            yield from leaf_commands(cmd, path)


COMMANDS = list(leaf_commands(main))


def test_the_walk_sees_every_command_group():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"index", "search", "similar", "list", "info", "rm", "check", "repair", "eval codesearch",
            "cf train", "cf recommend", "tables", "tables add", "lookup", "neighbours", "analogy",
            "compare", "export", "eval analogies", "eval similarity", "embed", "align", "cf bridge", "serve",
            "mcp"} <= names


def test_unknown_commands_suggest_close_ones(cli):
    r = cli("serch", "x")
    assert r.exit_code == 2 and "No such command 'serch'. Did you mean 'search'" in r.output
    r = cli("neighbors", "glove-6B-50d", "king")
    assert r.exit_code == 2 and "Did you mean 'neighbours'?" in r.output


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_and_unknown_options(path, cli, home):
    r = cli(*path, "--help")
    assert r.exit_code == 0 and "Usage:" in r.output
    r = cli(*path, "--no-such-option")
    assert r.exit_code == 2 and "No such option" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("path", [p for p, c in COMMANDS if any(
    isinstance(x, click.Argument) and x.required for x in c.params)], ids=lambda p: " ".join(p))
def test_missing_arguments_are_usage_errors(path, cli, home):
    r = cli(*path)
    assert r.exit_code == 2 and "Missing argument" in r.output


# (arguments, exit code): 1 for a wrong value only the command can judge (one 'Error:' line),
# 2 for one Click rejects while parsing (a usage error: the usage line, then 'Error:')
WRONG = [
    (("search", "nosuch", "query"), 1),
    (("similar", "nosuch", "--text", "x = 1"), 1),
    (("info", "nosuch"), 1),
    (("rm", "nosuch"), 1),
    (("check", "nosuch"), 1),
    (("repair", "nosuch"), 1),
    (("index", "/no/such/path", "--name", "x"), 1),
    (("eval", "codesearch", "/no/such/path"), 2),
    (("lookup", "nosuch-table", "king"), 1),
    (("lookup", "glove-6B-50d", "kingggg"), 1),
    (("neighbours", "nosuch-table", "king"), 1),
    (("analogy", "glove-6B-50d", "king", "man", "womannn"), 1),
    (("export", "nosuch-table", "--format", "npy"), 1),
    (("tables", "add", "x", "/no/such/file.txt"), 1),
    (("tables", "rm", "nosuch"), 1),
    (("cf", "recommend", "--user", "1"), 1),
    (("cf", "similar", "Star Wars"), 1),
    (("cf", "biases"), 1),
    (("cf", "train", "--data", "/no/such/folder"), 1),
    (("eval", "analogies", "nosuch-table"), 1),
    (("eval", "similarity", "glove-6B-50d", "--pairs", "/no/such/file.tsv"), 1),
    (("search", "nosuch", "query", "-k", "0"), 2),
    (("neighbours", "glove-6B-50d", "king", "-k", "0"), 2),  # -k is one option everywhere: at least 1
    (("analogy", "glove-6B-50d", "king", "man", "woman", "-k", "-3"), 2),
    (("cf", "similar", "Star Wars", "--top", "0"), 2),
    (("eval", "codesearch", "/tmp", "--questions", "/no/such/questions.tsv"), 2),
]


@pytest.mark.parametrize("args,code", WRONG, ids=lambda a: " ".join(a) if isinstance(a, tuple) else str(a))
def test_wrong_values_get_one_clear_line(args, code, cli, home):
    r = cli(*args)
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    else:
        assert lines[0].startswith("Usage: ") and lines[-1].startswith("Error: "), r.output


def test_a_queries_file_that_is_not_utf8_is_one_line(cli, home, tmp_path):
    from embedsearch.codeindex.indexing import build_index
    from tests.conftest import copy_stdlib

    build_index("q", [str(copy_stdlib(tmp_path / "src", ["shlex.py"]))], home, model=FAKE)
    bad = tmp_path / "q.txt"
    bad.write_bytes(b"split a command line\n\xff\xfe quote\n")
    r = cli("--home", home, "search", "q", "--queries", bad)
    assert r.exit_code == 1 and r.output.strip().splitlines() == [
        f"Error: {bad} is not UTF-8 text (byte 0xff on line 2); save it as UTF-8"]


def test_a_mistyped_name_to_update_and_a_missing_key_say_what_to_give(cli, home, tmp_path):
    from tests.conftest import copy_stdlib
    from tests.fake_encoder import FAKE

    src = copy_stdlib(tmp_path / "src", ["shlex.py"])
    assert cli("index", src, "--name", "stdlib", "--model", FAKE).exit_code == 0
    r = cli("index", "--name", "stdlb")  # refresh, with a typo: not "give at least one PATH"
    assert r.exit_code == 1 and "no index 'stdlb' to update; did you mean 'stdlib'?" in r.output
    r = cli("neighbours", "glove-6B-50d")  # no key and no vector: not "..., not both"
    assert r.exit_code == 1 and "give a key (or --vector" in r.output and "not both" not in r.output
