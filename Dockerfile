# Builds the three binaries (harvester, graph-service, notifier) into one small runtime image.
#   docker build -t tekton-graph .
#   docker run tekton-graph graph-service demo --listen 0.0.0.0:8080
FROM rust:1.95-bookworm AS build
# cmake and a C++ toolchain build the bundled librdkafka; it links the system OpenSSL (TLS, SCRAM) and Cyrus SASL
# (GSSAPI), found with pkg-config.
RUN apt-get update && apt-get install -y --no-install-recommends cmake g++ pkg-config libssl-dev libsasl2-dev \
    libcurl4-openssl-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p harvester -p graph-service -p notifier

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl libssl3 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/tekton-graph --create-home tekton-graph
COPY --from=build /src/target/release/harvester /src/target/release/graph-service /src/target/release/notifier /usr/local/bin/
USER tekton-graph
WORKDIR /var/lib/tekton-graph
EXPOSE 8080
CMD ["graph-service", "serve", "--listen", "0.0.0.0:8080", "--data-dir", "/var/lib/tekton-graph/data"]
