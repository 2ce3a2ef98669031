# syntax=docker/dockerfile:1
#
# idbridge container image.
#   docker build -t idbridge .
#   docker run -d --name idbridge -p 8080:8080 -v idbridge-data:/var/lib/idbridge idbridge
#
# The SQLite database and the generated master key live in the volume /var/lib/idbridge.
# Configure with IDBRIDGE_<SECTION>__<KEY> environment variables (see config/default.toml).

# ---- build ----------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        pkg-config build-essential libxml2-dev libxmlsec1-dev libclang-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin idbridge \
    && cp target/release/idbridge /usr/local/bin/idbridge

# ---- runtime --------------------------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates libxmlsec1 libxmlsec1-openssl libxml2 libxslt1.1 libssl3 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 10001 idbridge \
    && useradd --uid 10001 --gid 10001 --home-dir /var/lib/idbridge --no-create-home \
        --shell /usr/sbin/nologin idbridge \
    && mkdir -p /var/lib/idbridge \
    && chown 10001:10001 /var/lib/idbridge \
    && chmod 0700 /var/lib/idbridge

COPY --from=builder /usr/local/bin/idbridge /usr/local/bin/idbridge

ENV IDBRIDGE_DATA__DIR=/var/lib/idbridge \
    IDBRIDGE_SERVER__BIND=0.0.0.0:8080

WORKDIR /var/lib/idbridge
VOLUME /var/lib/idbridge
USER 10001:10001
EXPOSE 8080

# No HEALTHCHECK: the image has no curl or wget, and adding one only for that would grow the
# image and its attack surface. Probe GET /healthz (liveness) and GET /readyz (readiness) from
# the orchestrator instead (Kubernetes httpGet probes, a load balancer health check, ...).

ENTRYPOINT ["/usr/local/bin/idbridge"]
CMD ["serve"]
