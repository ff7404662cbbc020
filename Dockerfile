# syntax=docker/dockerfile:1
# Multi-arch image of webhook-over-websocket.
#
#   docker build -t webhook-over-websocket .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/OWNER/webhook-over-websocket .
#
# The build stage runs on the build machine's own platform and cross-compiles with
# `deno compile --target` (no emulation needed); the final stage holds only the binary.

ARG DENO_VERSION=2.9.6

FROM --platform=$BUILDPLATFORM denoland/deno:${DENO_VERSION} AS build
# Set by buildx: the platform the image is for (amd64 or arm64).
ARG TARGETARCH
WORKDIR /src
# Dependencies first, so they stay cached while only the sources change.
COPY deno.json deno.lock ./
RUN deno install
COPY . .
# TARGETARCH (Docker naming) -> Rust target triple that deno compile takes; the binary is named
# dist/webhook-over-websocket-linux-${TARGETARCH} (see deploy/compile.ts).
RUN case "${TARGETARCH:-amd64}" in \
      amd64) triple=x86_64-unknown-linux-gnu ;; \
      arm64) triple=aarch64-unknown-linux-gnu ;; \
      *) echo "Unsupported TARGETARCH \"${TARGETARCH}\": expected amd64 or arm64" >&2; exit 1 ;; \
    esac \
 && deno task compile --target "$triple" \
 && cp "dist/webhook-over-websocket-linux-${TARGETARCH:-amd64}" /webhook-over-websocket

# glibc + libgcc, no shell, runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="webhook-over-websocket" \
      org.opencontainers.image.description="Self-hosted webhook tunnel over WebSocket"
COPY --from=build /webhook-over-websocket /webhook-over-websocket
USER nonroot
# HTTP (webhooks, WebSocket, /healthz, /traefik-config) and gossip (memberlist: UDP and TCP).
EXPOSE 8080 7946 7946/udp
# The healthcheck subcommand asks http://127.0.0.1:${WOW_PORT:-8080}/healthz: when the server
# listens elsewhere, set WOW_PORT rather than --port so both agree.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/webhook-over-websocket", "healthcheck"]
ENTRYPOINT ["/webhook-over-websocket"]
CMD ["server"]
