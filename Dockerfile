# The Ganymede hub: one binary plus its static site.
#
#   docker build -t ganymede .            (offline: run scripts/debian-base.sh first)
#   docker run --network host --cap-add NET_ADMIN -v ganymede-data:/data \
#     -v /var/run/docker.sock:/var/run/docker.sock --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -e GANYMEDE_ADMIN_USER=admin -e GANYMEDE_ADMIN_PASSWORD=... ganymede
#
# Behind a TLS-intercepting proxy, put its CA certificate in docker/extra-ca/*.crt
# (scripts/build-hub-image.sh --extra-ca FILE does that).
ARG BASE_IMAGE=debian:bookworm-slim

# --- build: toolchain, wasm-bindgen and wasm-opt, then the release binary and the site ---
FROM ${BASE_IMAGE} AS builder
ARG RUST_VERSION=1.95.0
ARG BINARYEN_VERSION=132.0.0
ENV DEBIAN_FRONTEND=noninteractive \
    RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:$PATH \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl build-essential pkg-config nodejs npm \
 && rm -rf /var/lib/apt/lists/*
COPY docker/extra-ca/ /usr/local/share/ca-certificates/extra/
RUN update-ca-certificates
RUN curl --proto '=https' --tlsv1.2 -sSf -o /tmp/rustup-init \
      https://static.rust-lang.org/rustup/dist/x86_64-unknown-linux-gnu/rustup-init \
 && chmod +x /tmp/rustup-init \
 && /tmp/rustup-init -y --no-modify-path --profile minimal --default-toolchain "${RUST_VERSION}" \
      --target wasm32-unknown-unknown \
 && rm /tmp/rustup-init
RUN npm install -g --no-audit --no-fund "binaryen@${BINARYEN_VERSION}"
WORKDIR /src
COPY Cargo.lock ./
# wasm-bindgen's CLI must equal the crate version in Cargo.lock.
RUN version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)" \
 && cargo install wasm-bindgen-cli --version "${version}"
COPY . .
RUN cargo build --release --locked -p server --bin ganymede \
 && scripts/build-site.sh --release \
 && install -D target/release/ganymede /out/ganymede \
 && cp -r target/site /out/site

# --- runtime: the binary, the site, an unprivileged user, state in /data ---
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# iptables with CAP_NET_ADMIN as a file capability: the unprivileged hub fences its servers'
# networks (spawner.docker.egress) when run with --network host --cap-add NET_ADMIN.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl iptables libcap2-bin \
 && rm -rf /var/lib/apt/lists/* \
 && setcap cap_net_admin,cap_net_raw+ep "$(readlink -f /usr/sbin/iptables)" \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin ganymede \
 && mkdir -p /data && chown ganymede:ganymede /data
COPY --from=builder /out/ganymede /usr/local/bin/ganymede
COPY --from=builder /out/site /usr/share/ganymede/site
ENV LEPTOS_SITE_ROOT=/usr/share/ganymede/site \
    LEPTOS_ENV=PROD \
    GANYMEDE_HUB__BIND=0.0.0.0:8000 \
    GANYMEDE_HUB__DATA_DIR=/data
USER ganymede
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/hub/health || exit 1
ENTRYPOINT ["ganymede"]
CMD ["serve"]
