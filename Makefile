# Two commands on a fresh Debian machine: `make app` and `make test`.
# Both create .venv and install everything they need (Python packages, and Debian's
# chromium, pandoc, poppler-utils, gcc and libc6-dev when missing and we are root) and build
# the engine's C kernel (model/core/_lanes/liblanes.so).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYSTEM_PACKAGES := chromium pandoc poppler-utils gcc libc6-dev
# The engine's lane-batched C kernel, built with Debian's gcc into the package.
LANES_LIB := model/core/_lanes/liblanes.so
LANES_SRC := $(wildcard model/core/_lanes/*.c model/core/_lanes/*.h)
# The dashboard's plotly.js (the cartesian bundle from the npm registry, checked by sha512).
PLOTLY_JS := static/plotly.min.js

.PHONY: app test bench figures paper system-deps lanes clean

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# Compile the numba kernels once, in parallel processes, into numba's disk cache: the
	# dashboard's first visit and every test worker then load them instead of compiling
	# the same kernels side by side (a cold compile is about a minute of CPU a sector size).
	$(BIN)/python -m model warm
	@touch $(STAMP)

# Rebuilt whenever a source changes (make test depends on it).
$(LANES_LIB): $(STAMP) $(LANES_SRC)
	$(BIN)/python -m model build-lanes

lanes: $(LANES_LIB)

# Refetched whenever the venv is reinstalled (plotly.py's version may have changed).
$(PLOTLY_JS): $(STAMP)
	$(BIN)/python -m model assets

# Debian packages: chromium (kaleido's static export, browser tests, the paper's PDF),
# pandoc (the paper), poppler-utils (PDF checks), gcc and libc6-dev (the engine's C kernel).
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v pandoc >/dev/null 2>&1 || missing="$$missing pandoc"; \
	command -v pdfinfo >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	[ -e /usr/include/stdlib.h ] || missing="$$missing libc6-dev"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing system packages:$$missing. Install them with: sudo apt-get install -y$$missing" >&2; \
	    exit 1; \
	  fi; \
	fi

app: $(STAMP) $(LANES_LIB) $(PLOTLY_JS)
	$(BIN)/streamlit run serve.py --server.headless true --browser.gatherUsageStats false

test: $(STAMP) $(LANES_LIB) $(PLOTLY_JS)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

bench: $(STAMP) $(LANES_LIB) $(PLOTLY_JS)
	$(BIN)/python -m model bench

figures: $(STAMP) $(LANES_LIB)
	$(BIN)/python -m model figures --out paper/figures

paper: $(STAMP) $(LANES_LIB)
	$(BIN)/python -m model paper

clean:
	rm -rf $(VENV) paper/build .pytest_cache $(LANES_LIB)
