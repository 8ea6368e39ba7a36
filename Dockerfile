# syntax=docker/dockerfile:1
# One image for both roles: `shopwindow serve` (default) and `shopwindow materialize`.

FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/shopwindow
COPY pyproject.toml README.md ./
COPY shopwindow ./shopwindow
COPY materializer ./materializer
COPY gateway ./gateway
# A wheel, not an editable install: the runtime image holds no source tree.
RUN /opt/shopwindow/bin/pip install . \
 && /opt/shopwindow/bin/python -m compileall -q /opt/shopwindow

FROM python:3.11.11-slim-bookworm
ENV PATH=/opt/shopwindow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHOPWINDOW_HTTP_HOST=0.0.0.0 \
    SHOPWINDOW_MATERIALIZER_HTTP_HOST=0.0.0.0
RUN groupadd --system --gid 10001 shopwindow \
 && useradd --system --uid 10001 --gid shopwindow --no-create-home --shell /usr/sbin/nologin shopwindow
COPY --from=build /opt/shopwindow /opt/shopwindow
USER 10001:10001
EXPOSE 8000 9100
ENTRYPOINT ["shopwindow"]
CMD ["serve"]
