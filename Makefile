# glance-import-guard: the two commands the README starts with.
#   make demo   set everything up and show the guard at work in a real Glance
#   make test   build the wheel and run every test (what CI runs)

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: demo test bench lint wheel venv clean

venv: $(BIN)/.installed

$(BIN)/.installed: requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

# The guard is tested as operators install it: a release wheel built by
# maturin, pip-installed into a virtualenv that has glance.
wheel: venv
	rm -rf target/wheels
	$(BIN)/maturin build --release --quiet --out target/wheels
	$(BIN)/pip install -q --force-reinstall --no-deps target/wheels/glance_import_guard-*.whl

demo: wheel
	$(BIN)/python tests/demo.py

# Throughput and memory against Glance's own hashing and openssl speed, and
# a real 1 GiB import with and without the guard (a few minutes).
bench: wheel
	$(BIN)/python benches/bench.py

lint: venv
	cargo fmt --check
	cd fuzz && cargo fmt --check
	PYO3_PYTHON=$(abspath $(BIN)/python) cargo clippy --quiet --all-targets --features python -- -D warnings
	$(BIN)/ruff check python tests

test: lint wheel
	cargo test --quiet
	fuzz/run.sh 20000
	$(BIN)/pytest

clean:
	rm -rf $(VENV) target .demo fuzz/target fuzz/corpus fuzz/artifacts
