# The two commands a newcomer runs (see README):
#   make example   builds libnumpack.so / libnumpack.a and runs the C example end to end
#   make test      runs every test: lint, Rust unit tests, header check, C/C++/Fortran tests, interop,
#                  the C tests under ThreadSanitizer and under valgrind memcheck
# and
#   make install PREFIX=/opt/numpack   libnumpack.{so,a}, numpack.h(pp), numpack.pc, npk
CARGO ?= cargo
PYTHON ?= python3
LIBDIR := $(CURDIR)/target/release
export LIBDIR
PREFIX ?= /usr/local
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

.PHONY: lib example install test lint test-rust test-c test-interop test-mpi test-install tsan \
	memcheck campaign fuzz clean

lib:
	$(CARGO) build --release

example: lib
	$(MAKE) -C examples run

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 755 target/release/libnumpack.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 target/release/libnumpack.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/numpack.h $(DESTDIR)$(PREFIX)/include/
	if [ -f include/numpack.hpp ]; then install -m 644 include/numpack.hpp $(DESTDIR)$(PREFIX)/include/; fi
	install -m 755 target/release/npk $(DESTDIR)$(PREFIX)/bin/
	for pc in numpack numpack-static; do \
	  sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' pkgconfig/$$pc.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/$$pc.pc; done

test: lint test-rust test-c test-interop test-install tsan memcheck
	@echo "make test: all suites passed"

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test-rust:
	$(CARGO) test

test-c: lib
	$(MAKE) -C c_tests run
	$(MAKE) -C c_tests/batch run
	$(MAKE) -C c_tests/cpp run
	$(MAKE) -C c_tests/fortran run

test-interop: lib
	bash scripts/setup-python.sh
	$(MAKE) -C examples check
	$(PYTHON) -m pytest -q tests/interop tests/julia_proxy

# examples/mpi_checkpoint.c on 4 MPI ranks (Debian's openmpi-bin, libopenmpi-dev), then numpack
# checks the store they wrote.
test-mpi: lib
	bash scripts/setup-python.sh
	$(MAKE) -C examples check-mpi

test-install: lib
	bash tests/install/run.sh

# The C tests under ThreadSanitizer (library built into target/tsan) and under valgrind memcheck.
tsan:
	bash scripts/tsan.sh

memcheck: lib
	bash scripts/memcheck.sh

# Long runs, by hand (README, "Reliability, measured"): the crash campaign and the fuzzers.
TRIALS ?= 500
campaign: lib
	$(MAKE) -C c_tests campaign TRIALS=$(TRIALS) $(if $(SEED),SEED=$(SEED))

FUZZ_SECONDS ?= 600
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

clean:
	$(CARGO) clean
	$(MAKE) -C c_tests clean
	$(MAKE) -C c_tests/batch clean
	$(MAKE) -C c_tests/cpp clean
	$(MAKE) -C c_tests/fortran clean
	$(MAKE) -C examples clean
