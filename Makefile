# mailgate: `make run` starts the server, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install system-deps bench bench-replies bench-languages clean

run: $(STAMP) mailgate.toml
	$(BIN)/mailgate -c mailgate.toml serve

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

install: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "'$(PYTHON) -m venv' failed: install venv support first"; \
	  echo "(Debian/Ubuntu: apt-get install python3-venv; or run with PYTHON=/path/to/python3)"; \
	  exit 1; }

# Every install goes through the pinned versions in constraints.txt.
$(STAMP): $(BIN)/python setup.cfg pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Written once; later runs keep your edits.
mailgate.toml: | $(STAMP)
	$(BIN)/mailgate init . --domain example.com

system-deps:
	sh tests/system-deps.sh

bench: $(STAMP)
	$(BIN)/python bench/smtp_ingest.py
	$(BIN)/python bench/bulk_ingest.py
	$(BIN)/python bench/imap_ingest.py
	$(BIN)/python bench/notify.py
	$(BIN)/python bench/sla_sweep.py
	$(BIN)/python bench/language_detection.py

# talon and mail-parser-reply, for comparison only: a venv of their own.
bench-replies: $(STAMP)
	test -x .venv-compare/bin/python || $(PYTHON) -m venv .venv-compare
	.venv-compare/bin/python -m pip install --quiet --disable-pip-version-check \
	  -c constraints.txt -r bench/compare-requirements.txt -e .
	.venv-compare/bin/python bench/visible_text.py

# The other language detectors, for comparison only: in the same venv of their own.
bench-languages: $(STAMP)
	test -x .venv-compare/bin/python || $(PYTHON) -m venv .venv-compare
	.venv-compare/bin/python -m pip install --quiet --disable-pip-version-check \
	  -c constraints.txt -r bench/compare-languages-requirements.txt -e .
	HF_HUB_OFFLINE=1 .venv-compare/bin/python bench/language_detection.py

clean:
	rm -rf $(VENV) .venv-compare build *.egg-info .pytest_cache
