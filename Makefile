# NPUSim. On a fresh Debian machine: `make demo` and `make test` do everything (set-up included).
SWIFT      ?= swift
NPUSIM     := .build/release/npusim
# apt-get needs root; use sudo when we are not root.
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS   := libopenblas-dev zlib1g-dev pkg-config binutils libopenmpi-dev openmpi-bin

.PHONY: all build setup test demo bench fuzz clean check-pictures study python python-env python-test

all: build

# Installs what the build needs when it is missing; does nothing when it is present.
setup:
	@missing=""; \
	for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make setup: installing$$missing with apt-get"; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	@# Python's safetensors reads our checkpoints in an interoperability test (skipped, saying so, without it).
	@python3 -c "import safetensors.numpy" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check safetensors numpy 2>/dev/null \
	  || echo "make setup: could not install Python's safetensors; its interoperability test will be skipped"


# Release products link the Swift runtime statically: they need only system libraries.
SWIFT_LINK := -Xswiftc -static-stdlib

# npusim and the plain-C yardsticks its bench runs (products of the package, built next to it).
# Every release build passes the same flags: SwiftPM keeps the build plan of the last invocation
# whose flags differ only in -Xswiftc, so a yardstick built without them once made `make python`
# link the engine against the shared Swift runtime (a fresh clone's `make demo` failed its check).
build: setup
	$(SWIFT) build -c release --product npusim $(SWIFT_LINK)
	$(SWIFT) build -c release --product npusim-yardstick-sgemm $(SWIFT_LINK)
	$(SWIFT) build -c release --product npusim-yardstick-sum $(SWIFT_LINK)

# The Python package (python/npusim) over the engine's C ABI, installed into the project's own
# virtual environment (.venv; Debian's python3 refuses pip outside one). The shipped engine links
# the Swift runtime in, and the link check proves it needs nothing the toolchain brings.
PYVENV := .venv
PY     := $(PYVENV)/bin/python
python: setup python-env
	$(SWIFT) build -c release --product NPUSimEngine $(SWIFT_LINK)
	strip --strip-unneeded -o python/npusim/libnpusim.so .build/release/libNPUSimEngine.so
	python3 tools/check_engine_links.py python/npusim/libnpusim.so

# The environment alone (numpy, pytest, the package in editable mode), without building the engine.
python-env:
	@# Debian's python3 makes virtual environments only with python3-venv installed.
	@test -x $(PY) || python3 -m venv $(PYVENV) || { rm -rf $(PYVENV) && $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv && python3 -m venv $(PYVENV); }
	@$(PY) -c "import numpy, pytest" 2>/dev/null || $(PY) -m pip install --quiet --disable-pip-version-check numpy pytest
	@$(PY) -c "import importlib.util as u, sys; sys.exit(u.find_spec('npusim') is None)" 2>/dev/null || \
	  $(PY) -m pip install --quiet --disable-pip-version-check -e python/

python-test: python
	$(PY) -m pytest -q Tests/python

# The Swift tests and the Python package's tests share one debug build: the package's tests (and
# the CLI tests' Python scripts) load the engine `swift test` built, not a second, release, build.
DEBUG_ENGINE = $(CURDIR)/.build/debug/libNPUSimEngine.so
test: setup python-env
	@# An import a target does not depend on builds or fails by the parallel build's luck.
	python3 tools/check_imports.py
	$(SWIFT) build --product npusim-yardstick-sgemm
	$(SWIFT) build --product npusim-yardstick-sum
	$(SWIFT) test
	NPUSIM_LIBRARY=$(DEBUG_ENGINE) $(PY) -m pytest -q Tests/python

demo: build python
	$(NPUSIM) demo
	@echo; echo "npusim run examples/lenet.yaml  (a CNN on handwritten digits: MindSpore's LossMonitor lines, held-out accuracy per epoch)"
	$(NPUSIM) run examples/lenet.yaml

# Renders the pictures users look at in headless Chromium (Debian's chromium, installed when
# missing) and checks each screenshot is a real picture: a 2-card profile's timeline.svg.
PICTURES := .build/pictures
check-pictures: build
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
	@rm -rf $(PICTURES) && mkdir -p $(PICTURES)
	$(NPUSIM) profile examples/mlp.yaml --out $(PICTURES)/profile --cards 2 --steps 3 > $(PICTURES)/profile.txt
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,280 \
	  --screenshot=$(PICTURES)/timeline.png $(PICTURES)/profile/timeline.svg 2>/dev/null
	python3 bench/check_picture.py $(PICTURES)/timeline.png 1200 280
	$(NPUSIM) drift examples/mlp.yaml --replicas 3 --steps 60 --determinism off --out $(PICTURES)/drift > $(PICTURES)/drift.txt
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,700 \
	  --screenshot=$(PICTURES)/drift.png $(PICTURES)/drift/drift.svg 2>/dev/null
	python3 bench/check_picture.py $(PICTURES)/drift.png 900 700
	$(NPUSIM) drift examples/mlp.yaml --replicas 3 --steps 60 --determinism off --sink --sink-size 10 --out $(PICTURES)/drift-sink > $(PICTURES)/drift-sink.txt
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,700 \
	  --screenshot=$(PICTURES)/drift-sink.png $(PICTURES)/drift-sink/drift.svg 2>/dev/null
	python3 bench/check_picture.py $(PICTURES)/drift-sink.png 900 700
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,700 \
	  --screenshot=$(PICTURES)/study.png Docs/images/studies/lenet-off-O0.svg 2>/dev/null
	python3 bench/check_picture.py $(PICTURES)/study.png 900 700

# The determinism study: reruns everything and rewrites Docs/Studies.md and its figures.
study: build
	$(NPUSIM) study --doc Docs/Studies.md --figures Docs/images/studies

bench: build python
	$(NPUSIM) bench

# libFuzzer harnesses, one per parser a user can feed (Docs/Reliability.md). FUZZ_RUNS executions
# each, from the committed seed corpora (copied, so the committed ones stay as they are). Then
# MUTATE_CASES mutated example scripts through the release npusim (run, check, drift, profile; two
# steps; 4 GiB address space; 30 s each); MUTATE_CASES=0 skips them.
FUZZ_RUNS    ?= 1000000
FUZZ_TARGETS ?= NPY:npy Profile:profile Seeds:seeds Script:script Safetensors:safetensors MindSporeCkpt:ckpt IDX:idx CSV:csv CIFAR10:cifar10 DriftShard:driftshard
MUTATE_CASES ?= 100000
MUTATE_SEED  ?= 1
fuzz: build
	NPUSIM_FUZZ=1 $(SWIFT) build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -use-ld=lld
	@set -e; for t in $(FUZZ_TARGETS); do \
	  name=$${t%%:*}; corpus=$${t##*:}; work=.build-fuzz/corpus-$$corpus; log=.build-fuzz/fuzz-$$name.log; \
	  mkdir -p $$work; cp -n Fuzz/Corpus/$$corpus/* $$work/; \
	  echo "fuzz: Fuzz$$name, $(FUZZ_RUNS) runs"; \
	  status=0; .build-fuzz/release/Fuzz$$name -runs=$(FUZZ_RUNS) -max_len=4096 -timeout=10 -rss_limit_mb=4096 \
	    -print_final_stats=1 -artifact_prefix=.build-fuzz/ $$work > $$log 2>&1 || status=$$?; \
	  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done|==|SUMMARY|ERROR)" $$log || true; \
	  if [ $$status -ne 0 ]; then echo "fuzz: Fuzz$$name failed (status $$status): $$log, input in .build-fuzz/"; exit $$status; fi; \
	done
	@if [ "$(MUTATE_CASES)" != 0 ]; then \
	  rm -rf .build-fuzz/mutate; \
	  .build-fuzz/release/MutateScripts $(NPUSIM) examples .build-fuzz/mutate $(MUTATE_CASES) $(MUTATE_SEED) $$(nproc) \
	    || { echo "fuzz: mutated scripts found crashes, hangs, memory blow-ups or unclear errors: .build-fuzz/mutate/findings"; exit 1; }; \
	fi

clean:
	rm -rf .build .build-fuzz
