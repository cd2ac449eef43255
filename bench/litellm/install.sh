#!/usr/bin/env bash
# Installs the LiteLLM proxy (litellm[proxy] 1.109.1) for bench/api_gateway.py into its own venv:
#   bench/litellm/install.sh            -> /tmp/litellm-venv (or $PARLEY_BENCH_LITELLM_VENV)
# Its pins conflict with Parley's, so it never goes into .venv. The bench finds it at the same path.
#
# Why not `pip install 'litellm[proxy]'`: on this registry that resolves to 1.106.2, because 1.108+ pins
# litellm-proxy-extras==0.4.113 (Prisma migrations, used only with a database), which the registry lacks. So the
# dependencies come pinned from requirements.txt beside this script (the set resolved for 1.109.1 with that pin
# relaxed to the newest available, frozen) and litellm itself is installed with --no-deps.
# Nothing is downloaded at run time: the bench runs the proxy with LiteLLM's offline switches.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${PARLEY_BENCH_LITELLM_VENV:-/tmp/litellm-venv}"
version="1.109.1"
py="${PYTHON:-python3}"

[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r "$here/requirements.txt"
"$venv/bin/pip" install --quiet --no-deps "litellm==$version"

# Offline check: the proxy's module imports with the remote cost map and telemetry off.
LITELLM_OFFLINE_MODE=true LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY_DISABLED=true LITELLM_LOG=ERROR \
  "$venv/bin/python" - <<'PY'
import importlib.metadata as md

import litellm.proxy.proxy_server  # noqa: F401  (the proxy app, as the litellm CLI loads it)

print("installed:", *(f"{p}=={md.version(p)}" for p in ("litellm", "litellm-enterprise", "fastapi", "uvicorn",
                                                         "openai", "httpx")))
PY
echo "LiteLLM venv ready: $venv (bench/api_gateway.py uses it; override with PARLEY_BENCH_LITELLM_VENV)"
