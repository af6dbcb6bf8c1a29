# The newsfeed worker image: `docker build -t newsfeed .` (docker-compose.yml builds it for you).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY agents ./agents
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
# The index directory exists in the image so that a named volume mounted there belongs to the newsfeed user.
RUN useradd --create-home --uid 10001 newsfeed && install -d -o newsfeed -g newsfeed /home/newsfeed/index
COPY --from=build /install /usr/local
USER newsfeed
WORKDIR /home/newsfeed
ENV NEWSFEED_LOG_FORMAT=json \
    NEWSFEED_DATA_DIR=/home/newsfeed/state \
    NEWSFEED_WEB_HOST=0.0.0.0
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:6066/health').status == 200 else 1)"
ENTRYPOINT ["newsfeed"]
CMD ["worker"]
