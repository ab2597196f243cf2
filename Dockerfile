# HarmoniaKV node image: a static binary on a distroless base, run as a
# non-root user, data in the /data volume.
#
#   docker build -t harmonia:dev .
#   docker run --rm -p 8000:8000 -p 9000:9000 -v hk1:/data harmonia:dev --node-id n1 \
#     --data-dir /data --listen 0.0.0.0:7000 --advertise 127.0.0.1:7000 \
#     --client 0.0.0.0:8000 --http 0.0.0.0:9000 --insecure
#
# Bound to every interface without TLS, a node refuses to start unless
# given --insecure (every caller trusted); give --tls-cert, --tls-key and
# --tls-ca instead to run with mutual TLS (README, Security).
#
# docker-compose.yml runs three of them; deploy/kubernetes/ a StatefulSet.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/harmonia ./cmd/harmonia && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/harmonia /usr/local/bin/harmonia
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME /data
# cluster (node to node), client API (gRPC), HTTP (/healthz, /metrics)
EXPOSE 7000 8000 9000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/harmonia", "healthcheck", "--http", "127.0.0.1:9000"]
ENTRYPOINT ["/usr/local/bin/harmonia", "server"]
# A node binds every interface, so it must be told how peers reach it:
# give --node-id and --advertise (and --join for all but the first).
CMD ["--data-dir", "/data", "--listen", "0.0.0.0:7000", "--client", "0.0.0.0:8000", "--http", "0.0.0.0:9000", "--insecure"]
