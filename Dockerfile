# syntax=docker/dockerfile:1
# loggvakt as a container: a multi-stage build, a small Debian runtime, a non-root user.
#   docker build -t loggvakt .
#   docker run --rm -p 8480:8480 -v loggvakt-data:/var/lib/loggvakt -v ./schedules:/etc/loggvakt:ro loggvakt
# Templates, migrations and the example configuration are compiled into the binary; the image
# needs only the binary, CA certificates and tzdata.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The plugin example is a cdylib loaded at run time, not part of the image.
RUN cargo build --release --locked --bin loggvakt \
 && strip target/release/loggvakt

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 loggvakt \
 && useradd --system --uid 10001 --gid loggvakt --home-dir /var/lib/loggvakt --shell /usr/sbin/nologin loggvakt \
 && mkdir -p /var/lib/loggvakt /etc/loggvakt \
 && chown loggvakt:loggvakt /var/lib/loggvakt \
 && chmod 0700 /var/lib/loggvakt
COPY --from=build /src/target/release/loggvakt /usr/local/bin/loggvakt
USER 10001:10001
WORKDIR /var/lib/loggvakt
ENV LOGGVAKT_DB=sqlite:///var/lib/loggvakt/loggvakt.db \
    LOGGVAKT_CONFIG=/etc/loggvakt \
    LOGGVAKT_LOG_FORMAT=json \
    TZ=Europe/Stockholm
EXPOSE 8480
VOLUME ["/var/lib/loggvakt"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["loggvakt", "health", "--url", "http://127.0.0.1:8480/health/ready"]
ENTRYPOINT ["loggvakt"]
CMD ["serve", "--listen", "0.0.0.0:8480"]
