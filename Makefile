# The two commands a newcomer runs (see README):
#   make example   builds libnumpack.so / libnumpack.a and runs the C example end to end
#   make test      runs every test: lint, Rust unit tests, header check, C/C++/Fortran tests, interop
CARGO ?= cargo
PYTHON ?= python3
LIBDIR := $(CURDIR)/target/release
export LIBDIR

.PHONY: lib example test lint test-rust test-c test-interop clean

lib:
	$(CARGO) build --release

example: lib
	$(MAKE) -C examples run

test: lint test-rust test-c test-interop
	@echo "make test: all suites passed"

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test-rust:
	$(CARGO) test

test-c: lib
	$(MAKE) -C c_tests run
	$(MAKE) -C c_tests/batch run

test-interop: lib
	bash scripts/setup-python.sh
	$(PYTHON) -m pytest -q tests/interop

clean:
	$(CARGO) clean
	$(MAKE) -C c_tests clean
	$(MAKE) -C c_tests/batch clean
	$(MAKE) -C examples clean
