# hazewarn API image: slim Python, non-root user, migrations then the server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HAZEWARN_HOST=0.0.0.0 \
    HAZEWARN_PORT=8000

RUN apt-get update \
    && apt-get install -y --no-install-recommends libeccodes0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 hazewarn

WORKDIR /srv/hazewarn
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY forecasting ./forecasting
COPY alerts ./alerts
COPY contingency_plans ./contingency_plans
COPY migrations ./migrations
RUN pip install .  \
    && chown -R hazewarn /srv/hazewarn

USER hazewarn
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
CMD ["sh", "-c", "hazewarn db upgrade && exec hazewarn serve"]
