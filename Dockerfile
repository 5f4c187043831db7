# Huddle container image: a Node stage builds the web apps, a Rust stage the server, and a slim
# Debian 12 runtime with ffmpeg runs it. Not built by the test suite (no container engine on the
# project's machines); see docs/DEPLOY.md.
#
#   docker build -t huddle .
#   docker run -d -p 443:8443 -p 80:8080 -p 40000:40000/udp -p 40000:40000/tcp \
#       -v huddle-data:/var/lib/huddle huddle --announce-ips <public IP> \
#       --acme-domain meet.example.org --acme-email ops@example.org
# (Let's Encrypt validates on port 443 of the host, which -p 443:8443 forwards to the server.)

# The web apps: npm ci of the pinned Flashphoner Web SDK, bundle and demos copied into web/.
FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY web web
COPY scripts/build-web.sh scripts/build-web.sh
RUN bash scripts/build-web.sh

# The server: libopus-dev and pkg-config for the audio mixer.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopus-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p huddle \
 && strip target/release/huddle

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg libopus0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/huddle --shell /usr/sbin/nologin huddle \
 && mkdir -p /var/lib/huddle/records /var/lib/huddle/acme /usr/share/huddle \
 && chown -R huddle:huddle /var/lib/huddle && chmod 0700 /var/lib/huddle/acme
COPY --from=build /src/target/release/huddle /usr/bin/huddle
COPY --from=web /src/web/index.html /usr/share/huddle/web/index.html
COPY --from=web /src/web/client /usr/share/huddle/web/client
COPY --from=web /src/web/vendor /usr/share/huddle/web/vendor
COPY --from=web /src/web/sdk /usr/share/huddle/web/sdk
COPY packaging/huddle.toml /etc/huddle/huddle.toml
# Ports above 1024 inside the container (no capability needed); map or use host networking.
ENV HUDDLE_HTTP_PORT=8080 HUDDLE_HTTPS_PORT=8443
USER huddle
WORKDIR /var/lib/huddle
VOLUME /var/lib/huddle
EXPOSE 8080/tcp 8443/tcp 40000/udp 40000/tcp 1935/tcp
ENTRYPOINT ["/usr/bin/huddle", "--config", "/etc/huddle/huddle.toml"]
