# Everything runs from the project's own virtualenv (.venv/bin/...): no activation needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

DEMO_STUDENT ?= stu-000042

.PHONY: venv demo engine-demo test lint screenshots bench clean distclean

venv: $(STAMP)

# Re-installs only when pyproject.toml or constraints.txt changes; an existing .venv is reused,
# never recreated.
# The browser tests drive Debian's chromium (never a browser Playwright would download).
$(STAMP): pyproject.toml constraints.txt
	command -v chromium >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO apt-get install -y chromium; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	touch $@

# The service on the embedded default: broker, SQLite and a worker; a generated cluster goes
# through it as events. It keeps serving afterwards; Ctrl-C stops it all.
demo: venv
	$(BIN)/placement up --demo

# The engine alone, offline: generate an instance, solve it, explain one student.
engine-demo: venv
	$(BIN)/placement generate --students 2000 --schools 8 --seed 1 -o build/demo-instance.json
	$(BIN)/placement solve build/demo-instance.json -o build/demo-result.json
	$(BIN)/placement explain build/demo-result.json $(DEMO_STUDENT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The README's screenshots, taken by the browser tests (`make test` puts its own in build/).
screenshots: venv
	SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest tests/browser

bench: venv
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
