# syntax=docker/dockerfile:1
#
# Headless dedicated server image for Skirmish.
#
#   docker build -t skirmish-server .
#   docker build -t skirmish-server:agones --build-arg FEATURES=agones .   # for Agones fleets
#   docker run --rm -p 5000:5000/udp -p 9100:9100 \
#       -e SKIRMISH_PRIVATE_KEY="$(skirmish keygen)" skirmish-server --public-addr HOST_IP:5000
#
# The netcode private key is NEVER baked into this image. Give it at run time, either as the
# SKIRMISH_PRIVATE_KEY environment variable (e.g. from a Kubernetes Secret) or with
# `--key-file /run/secrets/...` pointing at a mounted secret file.
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts below.

ARG RUST_VERSION=1.95

############################################################################################
# Builder: compiles only the `skirmish` binary, without the window (`--no-default-features`
# drops the `render` feature), so no GPU, X11 or audio libraries are needed.
############################################################################################
FROM rust:${RUST_VERSION}-bookworm AS builder

# Extra cargo features of the root package, comma or space separated. Empty by default;
# `agones` builds the Agones SDK integration (`skirmish server --agones`).
ARG FEATURES=""

WORKDIR /src

# The Agones SDK crate generates its gRPC client in build.rs with tonic-build, which needs
# `protoc`; only installed when a feature that needs it is requested.
# hadolint ignore=DL3008
RUN case "$FEATURES" in \
      *agones*) apt-get update \
        && apt-get install -y --no-install-recommends protobuf-compiler \
        && rm -rf /var/lib/apt/lists/* ;; \
    esac

# The whole workspace: every member's manifest must be present for `--locked` to resolve, the
# client crate embeds files from assets/ with include_bytes!, and the root manifest declares
# the `screenshot` example (and tests/ is auto-discovered), so those directories come along too.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
COPY minimal ./minimal
COPY assets ./assets
COPY examples ./examples
COPY tests ./tests

# Dependencies are cached between builds in BuildKit cache mounts (crates.io registry, git
# checkouts and the target directory). The target directory is a cache mount, so the binary
# is copied out of it in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target,sharing=locked \
    set -eu; \
    if [ -n "$FEATURES" ]; then set -- --features "$FEATURES"; else set --; fi; \
    cargo build --release --locked --no-default-features "$@" --bin skirmish; \
    install -D -m 0755 target/release/skirmish /out/skirmish

############################################################################################
# Runtime: Debian slim with CA certificates only, running as an unprivileged user.
############################################################################################
FROM debian:bookworm-slim AS runtime

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 skirmish \
    && useradd --system --uid 10001 --gid skirmish --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin skirmish

COPY --from=builder /out/skirmish /usr/local/bin/skirmish

# Bind every interface inside the container; clients are told the public address through
# `--public-addr` (or, under Agones, the allocated node address and port).
ENV SKIRMISH_BIND=0.0.0.0 \
    SKIRMISH_PORT=5000 \
    SKIRMISH_METRICS_ADDR=0.0.0.0:9100

# Game traffic (netcode over UDP) and the metrics / health HTTP endpoint.
EXPOSE 5000/udp
EXPOSE 9100/tcp

# The `skirmish` user created above, by number so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

# The server's own health endpoint, checked by the binary itself (no curl in the image).
# Kubernetes ignores HEALTHCHECK; under Agones, health is reported through the SDK sidecar.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/skirmish", "healthcheck", "--url", "http://127.0.0.1:9100/healthz"]

STOPSIGNAL SIGTERM

# Arguments given to `docker run IMAGE ...` (or a pod's `args`) are appended to `server`.
ENTRYPOINT ["/usr/local/bin/skirmish", "server"]
