# datacat service image: `docker build -t datacat .` then `docker run -p 8080:8080 datacat`.
# Every pip install takes its versions from requirements/constraints.txt (`make lock`), so
# the image holds the packages the tests ran against, whatever PyPI has published since.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements/constraints.txt ./requirements/
# The build tools come from the lock and build without isolation, so nothing is unpinned.
RUN pip install --no-cache-dir -c requirements/constraints.txt pip \
    && pip install --no-cache-dir -c requirements/constraints.txt build hatchling
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY src ./src
RUN python -m build --wheel --no-isolation --outdir /dist

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATACAT_HOST=0.0.0.0 \
    DATACAT_PORT=8080 \
    DATACAT_DATABASE_URL=sqlite+aiosqlite:////data/datacat.db
COPY --from=build /dist /dist
COPY requirements/constraints.txt /dist/
RUN pip install --no-cache-dir -c /dist/constraints.txt pip \
    && pip install --no-cache-dir -c /dist/constraints.txt /dist/*.whl \
    && rm -rf /dist \
    && useradd --system --uid 10001 --home-dir /data datacat \
    && mkdir -p /data \
    && chown datacat /data
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz').status != 200)"]
CMD ["datacat", "serve"]
