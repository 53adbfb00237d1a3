# The adapter as a container: `docker compose up` runs it beside RabbitMQ (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DDFL_STORE_URL=sqlite:////data/ddfl-adapter.sqlite3

WORKDIR /src
COPY . .
RUN pip install --no-cache-dir ".[postgres]" \
    && useradd --system --uid 10001 --home-dir /data adapter \
    && mkdir -p /data && chown adapter /data

USER adapter
WORKDIR /data
VOLUME ["/data"]
CMD ["ddfl-adapter", "run"]
