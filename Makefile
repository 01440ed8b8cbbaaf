# Shortcuts for dev.py, which needs nothing but Python 3: `python3 dev.py test` is the same
# as `make test`. PYTHON picks the interpreter for .venv, e.g. `make test PYTHON=python3.13`.
PYTHON ?= python3

.PHONY: test docs bench browser clean

test docs bench browser:
	$(PYTHON) dev.py $@

clean:
	rm -rf .venv .venv-lowest .venv-plugin-floor site site-screenshots .pytest_cache .mypy_cache .ruff_cache
