# Two commands: `make demo` and `make test`. Each creates (or reuses) .venv and installs
# what it needs. torch==2.13.0 goes in first so pip keeps the CPU build.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,spark]'
	$(PY) -m compileall -q embedsearch  # as pip does for a regular install, even where PYTHONDONTWRITEBYTECODE is set
	touch $(STAMP)

STDLIB := $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_paths()['stdlib'])")
DEMO_SOURCES := $(addprefix $(STDLIB)/,json csv.py textwrap.py shutil.py shlex.py urllib)

# The main job on a built-in example: index a few standard-library packages (every machine
# has them), then answer plain-English questions. A second run is incremental (instant).
demo: $(STAMP)
	$(VENV)/bin/embedsearch index $(DEMO_SOURCES) --name demo-stdlib
	$(VENV)/bin/embedsearch search demo-stdlib --queries examples/demo_queries.txt -k 3

test: $(STAMP)
	$(PY) -m pytest -q --durations=15

clean:
	rm -rf $(VENV) indexes/demo-stdlib
