# hazewarn image: one image for every role (migrate, api, scheduler, dispatcher); compose.yaml
# picks the command. Built in two stages: the first builds the hazewarn wheel and collects a
# wheel of every dependency; the second installs only those wheels (no compilers, no build
# tools, no source tree) and runs as an unprivileged user.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY forecasting ./forecasting
COPY alerts ./alerts
COPY contingency_plans ./contingency_plans
# The hazewarn wheel and every dependency as a wheel, into /wheels.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .


FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HAZEWARN_HOST=0.0.0.0 \
    HAZEWARN_PORT=8000 \
    HAZEWARN_LOG_FORMAT=json \
    HAZEWARN_MODEL_PATH=/var/lib/hazewarn/models/pm25.joblib \
    HAZEWARN_GRID_INBOX=/var/lib/hazewarn/grid-inbox \
    HAZEWARN_RANKINGS_DIR=/var/lib/hazewarn/rankings
COPY --from=build /wheels /tmp/wheels
# Only the wheels built above: --no-index never reaches a package index.
RUN pip install --no-cache-dir --no-index --find-links=/tmp/wheels /tmp/wheels/hazewarn-*.whl \
    && rm -rf /tmp/wheels \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/hazewarn hazewarn \
    && mkdir -p /var/lib/hazewarn/models /var/lib/hazewarn/grid-inbox /var/lib/hazewarn/rankings \
    && chown -R 10001:10001 /var/lib/hazewarn
USER 10001:10001
WORKDIR /var/lib/hazewarn
VOLUME ["/var/lib/hazewarn/models", "/var/lib/hazewarn/grid-inbox"]
EXPOSE 8000
# The process answers; compose.yaml replaces this with each role's own check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
CMD ["hazewarn", "serve"]
