from embedsearch.cli import run

run()
