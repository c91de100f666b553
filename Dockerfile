# LienLac in a container: see docs/operations.md ("Docker Compose").
# docker build -t lienlac .   then   docker compose up -d   (compose.yaml adds PostgreSQL)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LIENLAC_DATA_DIR=/data \
    LIENLAC_WEBHOOK__LISTEN=0.0.0.0:8080

WORKDIR /app

# The runtime dependencies only, at the versions pinned in requirements.lock (the lock also
# pins the test tools, which the image does not need).
COPY . .
RUN pip install -c requirements.lock . \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin lienlac \
    && mkdir -p /data \
    && chown lienlac:lienlac /data \
    && chmod 0700 /data

USER lienlac
# the SQLite file (when no LIENLAC_DATABASE__URL is set) and anything else the bot keeps
VOLUME ["/data"]
EXPOSE 8080

# /healthz is served on 8080 by the webhook server (LIENLAC_WEBHOOK__PUBLIC_URL set); when
# polling, set LIENLAC_METRICS__LISTEN=0.0.0.0:8080 to serve it. No curl in slim: Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]

# `run` applies the migrations before it serves; SIGTERM stops it cleanly.
STOPSIGNAL SIGTERM
CMD ["python", "run_bot.py", "run"]
