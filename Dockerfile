# syntax=docker/dockerfile:1
# sse-bridge images, all on Debian 12 (bookworm-slim), one Dockerfile:
#   target demo     the Flask demo app (scripts/demo/)
#   target haproxy  Debian's haproxy with scripts/haproxy/haproxy-compose.cfg
#   target bridge   the sse-bridge binary, run as a non-root user (the last
#                   stage, so the default target)
# docker-compose.yml builds each target; `docker build .` builds the bridge.

# ---- build: the same scripts/deps.sh and the same cmake build as CI -------
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
# deps.sh installs the whole CI toolchain (compilers, check, redis, chromium
# for the browser tests...): identical to CI; only the binary leaves this stage.
RUN scripts/deps.sh \
 && cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build -j"$(nproc)" -- --no-print-directory \
 && build/bridge/sse-bridge --version

# ---- demo: Debian's Flask and redis-py, the app, a non-root user -----------
FROM debian:bookworm-slim AS demo
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-flask python3-redis python3-jwt curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10002 --home-dir /nonexistent --shell /usr/sbin/nologin demo
WORKDIR /app
COPY scripts/sse_publish.py /app/sse_publish.py
COPY scripts/demo/ /app/demo/
USER demo
ENV DEMO_LISTEN=0.0.0.0:5000
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:5000/app/healthz || exit 1
CMD ["/usr/bin/python3", "/app/demo/app.py"]

# ---- haproxy: Debian's package and our config, as the haproxy user ---------
FROM debian:bookworm-slim AS haproxy
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy curl \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/haproxy/haproxy-compose.cfg /etc/haproxy/haproxy.cfg
# The replicas' names resolve only once they run: warnings, not errors.
RUN haproxy -c -f /etc/haproxy/haproxy.cfg
USER haproxy
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8080/lb/stats || exit 1
CMD ["haproxy", "-db", "-f", "/etc/haproxy/haproxy.cfg"]

# ---- bridge: the runtime libraries, the binary, a non-root user ------------
FROM debian:bookworm-slim AS bridge
RUN apt-get update \
 && apt-get install -y --no-install-recommends libuv1 libhiredis0.14 zlib1g libcjson1 libssl3 liburing2 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin sse
COPY --from=build /src/build/bridge/sse-bridge /usr/local/bin/sse-bridge
USER sse
# Every flag is an SSE_* variable (see README, Configuration).
ENV SSE_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8080/healthz || exit 1
# SIGTERM drains the streams (--drain-timeout) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sse-bridge"]
