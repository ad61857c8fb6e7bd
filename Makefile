# Two commands on a fresh Debian machine: `make app` and `make test`.
# Both create .venv and install everything they need (Python packages, and Debian's
# chromium, pandoc and poppler-utils when missing and we are root).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYSTEM_PACKAGES := chromium pandoc poppler-utils

.PHONY: app test bench figures paper system-deps clean

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

# Debian packages: chromium (kaleido's static export, browser tests, the paper's PDF),
# pandoc (the paper), poppler-utils (PDF checks).
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v pandoc >/dev/null 2>&1 || missing="$$missing pandoc"; \
	command -v pdfinfo >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing system packages:$$missing. Install them with: sudo apt-get install -y$$missing" >&2; \
	    exit 1; \
	  fi; \
	fi

app: $(STAMP)
	$(BIN)/streamlit run app.py --server.headless true --browser.gatherUsageStats false

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m model bench

figures: $(STAMP)
	$(BIN)/python -m model figures --out paper/figures

paper: $(STAMP)
	$(BIN)/python -m model paper

clean:
	rm -rf $(VENV) paper/build .pytest_cache
