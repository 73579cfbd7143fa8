# glance-import-guard: the two commands the README starts with.
#   make demo   set everything up and show the guard at work in a real Glance
#   make test   build the wheel and run every test (what CI runs)
#   make test-quick   the unit and flow tests alone (under 2 minutes)

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
# maturin warns on every build that pyproject.toml's build-backend is not
# "maturin"; it is maturin, wrapped (build_backend/backend.py, see
# pyproject.toml), so the warning is wrong here.
export MATURIN_NO_MISSING_BUILD_BACKEND_WARNING := 1

.PHONY: demo test bench lint wheel venv clean

venv: $(BIN)/.installed

$(BIN)/.installed: requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

# The guard is tested as operators install it: a release wheel built by
# maturin, pip-installed into a virtualenv that has glance. It is the wheel
# we publish: abi3 (any CPython >= 3.9), linked by zig (ziglang from PyPI)
# against glibc 2.17 (manylinux2014), with OpenSSL built from source and
# linked statically (feature vendored-openssl), so it installs on any
# x86_64 Linux with glibc >= 2.17. The first build compiles OpenSSL (a few
# minutes); cargo keeps it in target/. --features replaces the features in
# pyproject.toml, so every feature is named.
WHEEL_FEATURES := python,pyo3/extension-module
WHEEL_RELEASE := --release --quiet --zig --compatibility manylinux2014 \
	--features $(WHEEL_FEATURES),vendored-openssl
# maturin finds zig as `python3 -m ziglang`: the venv's python3 has ziglang.
ZIG_ENV := CARGO_ZIGBUILD_PYTHON_PATH=$(abspath $(BIN)/python)
wheel: venv
	rm -rf target/wheels
	$(ZIG_ENV) $(BIN)/maturin build $(WHEEL_RELEASE) --out target/wheels
	$(BIN)/pip install -q --force-reinstall --no-deps target/wheels/glance_import_guard-*.whl

# For distribution packagers: links the host's libcrypto (so the distro's
# OpenSSL updates reach the guard) and is tagged linux_x86_64, for this
# host only (what pip builds from the sdist, too). Needs libssl-dev (or
# openssl-devel) and pkg-config. Replaces the wheel in target/wheels and
# in .venv; `make wheel` puts the release one back.
.PHONY: wheel-system wheel-aarch64
wheel-system: venv
	rm -rf target/wheels
	$(BIN)/maturin build --release --quiet --compatibility linux \
		--features $(WHEEL_FEATURES) --out target/wheels
	$(BIN)/pip install -q --force-reinstall --no-deps target/wheels/glance_import_guard-*.whl

# The release wheel for aarch64 (manylinux2014_aarch64), cross-compiled by
# zig; needs `rustup target add aarch64-unknown-linux-gnu`. Written to
# target/wheels-aarch64, so target/wheels keeps one installable wheel.
wheel-aarch64: venv
	rm -rf target/wheels-aarch64
	$(ZIG_ENV) $(BIN)/maturin build $(WHEEL_RELEASE) --target aarch64-unknown-linux-gnu \
		--out target/wheels-aarch64
	$(BIN)/auditwheel show target/wheels-aarch64/glance_import_guard-*.whl
	tests/matrix/aarch64.sh target/wheels-aarch64/glance_import_guard-*.whl

demo: wheel
	$(BIN)/python examples/demo.py

# The same story in a real small OpenStack: Keystone, Barbican and two
# regions (PostgreSQL, all on 127.0.0.1; about 30 s).
.PHONY: demo-openstack
demo-openstack: wheel
	$(BIN)/python examples/demo_openstack.py

# Throughput and memory against Glance's own hashing and openssl speed, a
# real 1 GiB import and upload with and without the guard, and the audit
# on a file store and on RBD (a one-node Ceph) against Ceph's own tools
# (about 10 minutes).
bench: wheel ceph-deps
	$(BIN)/python benches/bench.py

lint: venv
	cargo fmt --check
	cd fuzz && cargo fmt --check
	PYO3_PYTHON=$(abspath $(BIN)/python) cargo clippy --quiet --all-targets --features python -- -D warnings
	$(BIN)/ruff check python tests

# On 2 cores, what does not depend on each other runs two at a time
# (--output-sync: each part's output comes whole, when it ends): first the
# wheel, the Rust checks, the fuzz smoke run, the matrix venvs and the apt
# packages; then pytest alone (its end-to-end tests time a healthcheck and
# count a worker's threads: nothing else runs beside them); then Tempest
# and the release matrix (whose two pairs run side by side too).
test: venv
	$(MAKE) -j2 --output-sync=target test-prepare
	$(BIN)/pytest
	$(MAKE) -j2 --output-sync=target test-after

.PHONY: test-prepare test-after rust-test fuzz-smoke matrix-venvs tempest-run matrix-ci
test-prepare: wheel rust-test fuzz-smoke matrix-venvs ceph-deps swift-deps rabbitmq-deps
test-after: tempest-run matrix-ci

# cargo test after clippy: both build in target/debug, which cargo locks.
# Without MAKEFLAGS and MFLAGS: make -j2 names its jobserver there but hands its file
# descriptors only to recursive makes, and rustdoc warns that it cannot
# open them.
rust-test: lint
	env -u MAKEFLAGS -u MFLAGS cargo test --quiet

fuzz-smoke:
	fuzz/run.sh 20000

matrix-venvs: venv
	$(BIN)/python tests/matrix/run.py --venvs-only $(MATRIX_CI_PAIRS)

tempest-run:
	$(BIN)/python tests/tempest/run.py

matrix-ci:
	$(BIN)/python tests/matrix/run.py --jobs 2 $(MATRIX_CI_PAIRS)

# The unit and flow tests alone (tests/unit, tests/flow; no server, no
# store): under 2 minutes, for the edit-test loop. make test runs them too.
.PHONY: test-quick
test-quick: wheel
	$(BIN)/pytest -q tests/unit tests/flow

# Ceph for tests/e2e/test_e2e_rbd.py (Glance's rbd store on a one-node
# cluster): Debian's ceph-mon, ceph-mgr, ceph-osd, ceph-common and the
# rados/rbd Python bindings (apt, as root; quick when installed), which
# exist only for Debian's CPython: the venv gets a .pth and symlinks to
# the two modules (tests/support/ceph.py, make_bindings_reachable).
.PHONY: ceph-deps
ceph-deps: venv
	tests/support/install-ceph.sh
	$(BIN)/python tests/support/ceph.py link-bindings $(VENV)

# Swift for tests/e2e/test_e2e_swift.py (Glance's swift store on a one-node
# Swift, tests/support/swift.py): Debian's memcached (apt, as root; quick
# when installed); the swift servers come from .venv (requirements-test.txt).
.PHONY: swift-deps
swift-deps: venv
	tests/support/install-swift.sh

# RabbitMQ for tests/e2e/test_e2e_notifications.py (the guard's notifications
# on the bus Glance's go to): Debian's rabbitmq-server (apt, as root; quick
# when installed); the tests run a private node of their own
# (tests/support/rabbitmq.py), not the package's service.
.PHONY: rabbitmq-deps
rabbitmq-deps: venv
	tests/support/install-rabbitmq.sh

# Tempest's image API tests (tempest.api.image.v2 of tempest 47.0.0, about
# 100 tests) against the stack of tests/support/openstack.py, in three
# configurations of glance-api: Glance alone, the guard with every caller
# exempt (must equal Glance alone, test by test), the guard on its defaults
# (may differ only in tests/tempest/expected-differences.txt, each failing
# with the guard's refusal). tests/tempest/run.py; about 3 minutes.
.PHONY: tempest
tempest: wheel
	$(BIN)/python tests/tempest/run.py

# The wheel in each supported release's glance, installed with that
# release's upper-constraints on its Python (tests/matrix/run.py; venvs in
# .matrix/, reused). A subset: make matrix PAIRS="2024.1-py3.9 2026.2-py3.13"
# make test runs the oldest and the newest pair.
PAIRS ?=
MATRIX_CI_PAIRS := 2024.1-py3.9 2026.2-py3.13
.PHONY: matrix
matrix: wheel
	$(BIN)/python tests/matrix/run.py $(PAIRS)

# Docs that cannot drift (tests/unit/test_docs.py checks each against the code):
# the sample configuration, written by oslo-config-generator from the
# options of the guard installed in .venv (make wheel after changing
# opts.py), and the HTML documentation (Sphinx, warnings are errors), whose
# options reference oslo.config's Sphinx extension generates the same way.
.PHONY: sample-config docs releasenotes licenses
sample-config: venv
	$(BIN)/oslo-config-generator --config-file etc/oslo-config-generator/glance-import-guard.conf

docs: venv
	$(BIN)/sphinx-build -W --keep-going -q -E -b html doc/source target/docs/html
	@echo "open target/docs/html/index.html"

# The release notes (reno: releasenotes/notes/, one file a change, made
# with `$(BIN)/reno new <slug>`), by release; reno reads only the notes
# git knows, so commit a new one before looking for it here.
releasenotes: venv
	$(BIN)/reno -q report

# THIRD-PARTY-LICENSES: the licenses of the crates linked into the wheel
# (cargo-about, licenses/about.toml and about.hbs) and of the OpenSSL the
# release wheel bundles (licenses/bundled_openssl.py), for the wheel's
# features. pyproject.toml puts it and LICENSE into the wheel and sdist;
# tests/unit/test_packaging.py fails when a crate is missing, so run this after
# changing Cargo.toml or Cargo.lock. Installs cargo-about (crates.io; its
# build takes a few minutes, once) when cargo has none; the pinned version
# is the one that wrote the committed file.
CARGO_ABOUT_VERSION := 0.9.3
licenses: venv
	cargo about --version >/dev/null 2>&1 || \
		cargo install --locked --features cli cargo-about@$(CARGO_ABOUT_VERSION)
	cargo about generate --locked --fail --features $(WHEEL_FEATURES),vendored-openssl \
		--config licenses/about.toml --output-file THIRD-PARTY-LICENSES licenses/about.hbs
	$(BIN)/python licenses/bundled_openssl.py $(WHEEL_FEATURES),vendored-openssl \
		>> THIRD-PARTY-LICENSES

clean:
	rm -rf $(VENV) target .demo .matrix fuzz/target fuzz/corpus fuzz/artifacts
