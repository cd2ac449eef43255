# Parley: one process serves the UI, /healthz and the API on port 8501.
FROM python:3.11-slim-bookworm

# FORWARDED_ALLOW_IPS: whose X-Forwarded-For uvicorn believes. Nobody's by default (a client cannot choose the
# address its failed logins count against); compose.yaml sets it to nginx's address.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PARLEY_DATA_DIR=/app/data \
    FORWARDED_ALLOW_IPS=""

# Build dependencies for llama-cpp-python (compiled from source), and pg_dump/pg_restore 16 for
# `python -m core.backup` against compose.yaml's PostgreSQL 16 (Debian bookworm ships 15; PGDG has 16).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake curl ca-certificates \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
      https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-16 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --create-home --uid 10001 parley \
 && mkdir -p /app/data && chown -R parley:parley /app/data
USER parley

EXPOSE 8501
VOLUME ["/app/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/healthz', timeout=4).status == 200 else 1)"

CMD ["streamlit", "run", "server.py", "--server.port", "8501", "--server.address", "0.0.0.0"]
