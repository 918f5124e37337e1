# `make test` and `make book` each set everything up on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch goes in first and on its own: an unpinned torch would pull several GB of CUDA packages.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
# The Planetoid graphs (Cora, Citeseer) are not in git: use the shared copy next to the clone.
ifneq ($(wildcard ../shared/datasets/planetoid/.),)
export HVAE_PLANETOID_DIR ?= $(abspath ../shared/datasets/planetoid)
endif

.PHONY: test unit lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e '.[dev,book]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(BIN)/pytest tests -m "not book_check"

test: lint unit book-check

clean:
	rm -rf $(VENV) _build

# --- The book (chapters/, _toc.yml, _config.yml; tools/README.md explains the pieces) ----------
# `make book`: execute every notebook listed in _toc.yml with papermill (profile PROFILE, passed
# to each chapter's `parameters` cell), write each back in place with its outputs and without
# volatile metadata, then build the HTML into _build/html, warnings being errors.
# `make book-check` (part of `make test`): re-execute every chapter once, with nbval, which
# compares the cells tagged `nbval-check-output` and saves the fresh outputs to _build/executed/;
# build the HTML from the committed notebooks; then tests/test_book.py compares the re-executed
# figures with the committed ones and opens every page in headless Chromium (screenshots in
# _build/screenshots/). Executing the chapters takes most of the time, so it happens only once.
PROFILE ?= quick

# MathJax comes from npm (pinned in tools/mathjax/) and is copied into the HTML, so the book
# reads offline. --all rebuilds every page, so that no warning hides in an unchanged page.
# The reproducibility page (chapters/reproducibility.md, gitignored) is written first, from the
# execution log that execute_notebooks.py and run_nbval.py keep in _build/executions.json.
define BOOK_HTML
	$(BIN)/python tools/reproducibility_page.py
	$(BIN)/python tools/vendor_mathjax.py install
	$(BIN)/jupyter-book build . --all -W -n --keep-going -q
	$(BIN)/python tools/vendor_mathjax.py copy
endef

.PHONY: book book-check

book: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py --profile $(PROFILE)
	$(BOOK_HTML)

book-check: $(STAMP)
	$(BIN)/python tools/run_nbval.py
	$(BOOK_HTML)
	HVAE_BOOK_CHECK=1 $(BIN)/pytest tests/test_book.py

# --- Experiments (hvae/experiments/) -----------------------------------------------------------
# `make reproduce`: the paper's protocol (the `full` profile; PROFILE=quick for a smoke test), in
# two steps.
# 1. Train and evaluate every run of Tables 1 and 2 (python -m hvae.experiments), then the S-VAE
#    runs trained with the paper code's gradient in kappa (profile <PROFILE>-proposal-gradient,
#    chapter 7's ablation), then Figure 1's five models over five seeds (--experiment circle,
#    chapter 6), then Table 3's M1 + M2 grid (--experiment semisupervised, chapter 10), then
#    Table 4's graph VAEs on Cora and Citeseer (--experiment link, chapter 11): on the
#    GPU when there is one (or DEVICE=cpu / DEVICE=cuda:1), one JSON per run
#    with its provenance in
#    data/results/$(PROFILE)/, training checkpoints in runs/$(PROFILE)/. Interrupted, it resumes:
#    finished runs are skipped, an unfinished one continues from its last epoch.
# 2. Execute chapters 06, 07, 08, 10 and 11 with papermill in that profile: they read the stored results and
#    checkpoints (training nothing already done) and write the executed notebooks, tables and
#    figures included, to _build/reproduce/$(PROFILE)/chapters/. The committed chapters (quick
#    profile) print the stored full-profile results too.
REPRODUCE_PROFILE := $(if $(filter command line environment,$(origin PROFILE)),$(PROFILE),full)
DEVICE ?=
# SCHEDULER=local:4 or SCHEDULER=tcp://HOST:PORT: the runs as tasks on Dask (hvae.experiments.scheduling)
SCHEDULER ?=
RUN_FLAGS = $(if $(DEVICE),--device $(DEVICE)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

.PHONY: reproduce

reproduce: $(STAMP)
	$(BIN)/python -m hvae.experiments --profile $(REPRODUCE_PROFILE) $(RUN_FLAGS)
	$(BIN)/python -m hvae.experiments --profile $(REPRODUCE_PROFILE)-proposal-gradient $(RUN_FLAGS)
	$(BIN)/python -m hvae.experiments --experiment circle --profile $(REPRODUCE_PROFILE) $(RUN_FLAGS)
	$(BIN)/python -m hvae.experiments --experiment semisupervised --profile $(REPRODUCE_PROFILE) \
		$(RUN_FLAGS)
	$(BIN)/python -m hvae.experiments --experiment link --profile $(REPRODUCE_PROFILE) $(RUN_FLAGS)
	$(BIN)/python tools/execute_notebooks.py --profile $(REPRODUCE_PROFILE) \
		--output-dir _build/reproduce/$(REPRODUCE_PROFILE) \
		chapters/06_circle.ipynb chapters/07_mnist.ipynb chapters/08_knn.ipynb \
		chapters/10_semisupervised.ipynb chapters/11_link_prediction.ipynb
