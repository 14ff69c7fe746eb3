"""Every command, walked with wrong arguments: usage errors exit 2, user errors exit 1 with
one line, and nothing prints a traceback."""

from __future__ import annotations

import click
import pytest

from embedsearch.cli import main


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
            "compare", "export", "eval analogies", "eval similarity"} <= names


def test_unknown_commands_suggest_close_ones(cli):
    r = cli("serch", "x")
    assert r.exit_code == 2 and "No such command 'serch'. Did you mean 'search'?" in r.output
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


WRONG = [
    ("search", "nosuch", "query"),
    ("similar", "nosuch", "--text", "x = 1"),
    ("info", "nosuch"),
    ("rm", "nosuch"),
    ("check", "nosuch"),
    ("repair", "nosuch"),
    ("index", "/no/such/path", "--name", "x"),
    ("eval", "codesearch", "/no/such/path"),
    ("lookup", "nosuch-table", "king"),
    ("lookup", "glove-6B-50d", "kingggg"),
    ("neighbours", "nosuch-table", "king"),
    ("analogy", "glove-6B-50d", "king", "man", "womannn"),
    ("export", "nosuch-table", "--format", "npy"),
    ("tables", "add", "x", "/no/such/file.txt"),
    ("tables", "rm", "nosuch"),
    ("cf", "recommend", "--user", "1"),
    ("cf", "similar", "Star Wars"),
    ("cf", "biases"),
    ("cf", "train", "--data", "/no/such/folder"),
    ("eval", "analogies", "nosuch-table"),
    ("eval", "similarity", "glove-6B-50d", "--file", "/no/such/file.tsv"),
    ("search", "nosuch", "query", "-k", "0"),
]


@pytest.mark.parametrize("args", WRONG, ids=lambda a: " ".join(a))
def test_wrong_values_get_one_clear_line(args, cli, home):
    r = cli(*args)
    assert r.exit_code in (1, 2), r.output
    assert "Traceback" not in r.output and "internal error" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    if r.exit_code == 1:
        assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
