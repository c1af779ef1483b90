# Two commands on a fresh machine: `make lab` to learn, `make test` to verify.
# Every target sets up .venv first; setup is idempotent and does nothing when
# pyproject.toml has not changed since the last install.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
COURSE_PROFILE ?= auto
export COURSE_PROFILE
# Notebooks never need the hub in smoke/fast profile; tests prove it.
TEST_ENV := COURSE_PROFILE=smoke HF_HUB_OFFLINE=1

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# nbval runs in smoke, where a whole notebook takes <= 60 s: a cell past 120 s is stuck.
NBVAL := --nbval-lax --nbval-current-env -p no:cacheprovider --nbval-cell-timeout=120

.PHONY: setup wheelhouse lab course site student test test-student test-browser unit nbtest lint bench classifier clean help

help:
	@echo "make lab     - set up, then open JupyterLab on notebooks/"
	@echo "make test    - set up, then unit tests + nbval of every notebook (smoke profile)"
	@echo "make course  - set up, then run every notebook headless into build/ (COURSE_PROFILE=...)"
	@echo "make site    - a static HTML book of the executed notebooks in build/site/ (offline)"
	@echo "make test-browser - the site and every widget in headless Chromium (needs chromium)"
	@echo "make student - workshop copies without solutions in build/student/ (+ instructor README)"
	@echo "make test-student - the student copies under nbval (smoke)"
	@echo "make bench   - set up, then run benchmarks/ and rewrite benchmarks/RESULTS.md"
	@echo "               (modules whose inputs are unchanged keep their rows; BENCH_REUSE=0 reruns all)"
	@echo "make setup   - create .venv and install course_lib with its test extra"
	@echo "               (WHEELS=build/wheelhouse: from downloaded wheels, no network)"
	@echo "make wheelhouse - download every wheel setup needs into build/wheelhouse/ (workshops)"
	@echo "make classifier - retrain the metrics classifier shipped in data/"

setup: $(STAMP)

# `make setup WHEELS=build/wheelhouse` installs from a folder made by `make wheelhouse`,
# without the network (a workshop's seats: one download for the room). pip then reads no
# config file and no PIP_* variable, so a find-links or index set on the seat is not asked.
WHEELS ?=
PIP_FROM := $(if $(WHEELS),--isolated --no-index --find-links $(abspath $(WHEELS)),)
PIP_ENV := $(if $(WHEELS),PIP_CONFIG_FILE=/dev/null,)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_ENV) $(BIN)/python -m pip install --disable-pip-version-check -q $(PIP_FROM) --upgrade "pip>=24"
	$(PIP_ENV) $(BIN)/python -m pip install --disable-pip-version-check -q $(PIP_FROM) -e ".[test]"
	touch $(STAMP)

# Every wheel `make setup` installs (and the build tools of pyproject.toml's build-system),
# downloaded once into WHEELHOUSE for seats with the same OS, CPU architecture and Python.
WHEELHOUSE ?= build/wheelhouse
wheelhouse: setup
	$(BIN)/python -m pip download --disable-pip-version-check -q -d $(WHEELHOUSE) \
		"pip>=24" "setuptools>=77" wheel ".[test]"
	@du -sh $(WHEELHOUSE)

# JupyterLab refuses to run as root without --allow-root (containers, CI images).
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,)

# `make lab LAB_DIR=build/student` opens the workshop copies instead.
LAB_DIR ?= notebooks
lab: setup
	$(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_ARGS) $(LAB_DIR)/

# Fresh kernel per notebook, a time limit per cell sized to the profile, one retry of a
# notebook whose kernel lost a reply: a headless run fails fast and names the cell.
course: setup
	$(BIN)/python tools/run_notebooks.py --html --out build $(NOTEBOOKS)

# The static site: its own environment (Jupyter Book pins its own Sphinx stack); the
# notebooks are rendered as committed, nothing is executed. npm fetches the widget
# JavaScript once into build/cache/.
SITE_VENV := .venv-site
$(SITE_VENV)/.installed: tools/site-requirements.txt
	test -x $(SITE_VENV)/bin/python || $(PYTHON) -m venv $(SITE_VENV)
	$(SITE_VENV)/bin/python -m pip install --disable-pip-version-check -q -r tools/site-requirements.txt
	touch $@

site: $(SITE_VENV)/.installed
	$(SITE_VENV)/bin/python tools/build_site.py --out build/site

# Browser tests (Debian's chromium + Playwright): the site offline, then every widget in
# JupyterLab. Screenshots in build/browser/.
BROWSER_STAMP := $(VENV)/.browser
$(BROWSER_STAMP): $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[test,browser]"
	touch $@

test-browser: $(BROWSER_STAMP) site
	@command -v chromium >/dev/null || { echo "test-browser needs Debian's chromium: apt-get install -y chromium (as root)"; exit 3; }
	$(TEST_ENV) $(BIN)/python -m pytest browser_tests -q -p no:cacheprovider

# Workshop copies: solution cells (tag "solution") removed, outputs cleared, plus an
# instructor's README with each notebook's timing plan.
student: setup
	$(BIN)/python tools/make_student.py --out build/student $(NOTEBOOKS)

unit: setup
	$(TEST_ENV) $(BIN)/python -m pytest tests -q

nbtest: setup
	$(TEST_ENV) $(BIN)/python -m pytest $(NBVAL) notebooks -q

test: setup
	$(TEST_ENV) $(BIN)/python -m pytest tests -q
	$(TEST_ENV) $(BIN)/python -m pytest $(NBVAL) notebooks -q

# The workshop's copies must run without their solutions: every student copy under nbval
# (smoke). Separate from `make test` to keep that under 15 minutes; .ci/run runs both.
test-student: student
	cd build/student && $(TEST_ENV) ../../$(BIN)/python -m pytest $(NBVAL) . -q

lint: setup
	$(BIN)/ruff check course_lib tests benchmarks tools

bench: setup
	$(BIN)/python -m benchmarks.run

# Retrain the metrics classifier deterministically and rewrite data/classifier/ (weights + MANIFEST.json).
classifier: setup
	$(BIN)/python -m course_lib.metrics train-classifier

clean:
	rm -rf build .pytest_cache
