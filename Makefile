# Parley: `make run` starts the portal, `make test` runs the whole suite. Both set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501

.PHONY: run api test install install-dev migrate chromium test-tools cluster backup lint typecheck bench generate-key rotate-keys clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamps live inside the venv, so a fresh clone (or a new venv) always installs.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	@echo "Installing pinned requirements (building llama-cpp-python takes several minutes the first time)..."
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python -m alembic upgrade head

run: migrate
	@echo ""
	@echo "  Parley is starting on http://localhost:$(PORT)"
	@echo "  First admin: user 'admin'. Password: \$$PARLEY_ADMIN_PASSWORD if you set it, otherwise"
	@echo "  the one printed in the banner below on the very first start (data/ keeps it afterwards)."
	@echo ""
	@# No proxy in front: believe no X-Forwarded-For (uvicorn trusts 127.0.0.1 by default), so no local process can
	@# choose the address its failed logins are throttled as.
	FORWARDED_ALLOW_IPS= $(BIN)/streamlit run server.py --server.port $(PORT)

# The OpenAI-compatible API alone, one worker process per core (API_WORKERS=N to choose), on API_PORT (8000).
# Several workers share request windows through Redis: set REDIS_URL. The portal keeps serving /v1 itself too.
API_PORT    ?= 8000
API_WORKERS ?=
api: migrate
	$(BIN)/python -m core.api --host 127.0.0.1 --port $(API_PORT) $(if $(API_WORKERS),--workers $(API_WORKERS))

# Browser tests drive the system Chromium (Playwright's own browser download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

# What the cluster and backup tests drive: Debian's nginx, docker-compose (to validate compose.yaml; no daemon is
# used) and PostgreSQL's client tools (pg_dump / pg_restore).
test-tools:
	@missing=""; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	command -v pg_dump >/dev/null 2>&1 || missing="$$missing postgresql-client"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian's$$missing for the cluster and backup tests..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# The lint gate runs first: a broken import contract, a type error or a ruff finding fails the build.
test: install-dev chromium test-tools lint
	$(BIN)/pytest

# The team topology without Docker: nginx on :8080 in front of two instances on DATABASE_URL (PostgreSQL) and
# REDIS_URL. Ctrl-C stops it all. With Docker: docker compose up (compose.yaml).
cluster: install test-tools
	$(BIN)/python deploy/cluster.py

# One archive of the database, data/secrets.env and the vector store into data/backups (backup.dir), then the
# retention (backup.keep_daily / keep_weekly). Restore: .venv/bin/python -m core.backup restore ARCHIVE
backup: migrate
	$(BIN)/python -m core.backup create
	$(BIN)/python -m core.backup prune

# ruff, mypy on all of core, and the architecture's import contracts (pyproject.toml, docs/architecture.md).
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy core
	$(BIN)/lint-imports

bench: install-dev
	$(BIN)/python bench/auth_session.py
	$(BIN)/python bench/chat_overhead.py
	$(BIN)/python bench/local_model.py
	$(BIN)/python bench/limiter.py
	$(BIN)/python bench/dashboard_scale.py
	$(BIN)/python bench/history_scale.py
	$(BIN)/python bench/api_gateway.py
	$(BIN)/python bench/import_scale.py
	$(BIN)/python bench/budget.py
	$(BIN)/python bench/backup_scale.py
	$(BIN)/python bench/ui_load.py
	$(BIN)/python bench/rag_eval.py
	$(BIN)/python bench/parse_bombs.py

# Print a new master key for PARLEY_FERNET_KEYS (put it first, keep the old ones after it, then rotate).
generate-key: install
	@$(BIN)/python -m core.keys generate-key

# Re-encrypt every stored provider key under the newest master key; safe to re-run.
rotate-keys: install
	$(BIN)/python -m core.keys rotate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
