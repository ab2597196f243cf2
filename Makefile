# protoc comes from Debian's protobuf-compiler; the plugins are pinned here.
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
GOBIN_DIR := $(CURDIR)/.bin

.PHONY: proto test race check-proto build bench-etcd bench-hotpath

build:
	go build ./...

# The cluster tests in tests/ take about fifteen minutes, more than go test's
# default timeout for one package.
test:
	go test -timeout 40m ./...

race:
	go test -race ./cluster/... ./persistence/... ./actors/... ./node/... ./cmd/... ./internal/...

$(GOBIN_DIR)/protoc-gen-go:
	GOBIN=$(GOBIN_DIR) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(GOBIN_DIR)/protoc-gen-go-grpc:
	GOBIN=$(GOBIN_DIR) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto: $(GOBIN_DIR)/protoc-gen-go $(GOBIN_DIR)/protoc-gen-go-grpc
	PATH=$(GOBIN_DIR):$$PATH protoc -I messages \
		--go_out=messages --go_opt=paths=source_relative \
		--go-grpc_out=messages --go-grpc_opt=paths=source_relative \
		messages/internalpb/internal.proto messages/kvpb/kv.proto \
		messages/itempb/item.proto messages/datatypepb/datatype.proto

# Fails when the committed generated code differs from what make proto makes.
check-proto: proto
	git diff --exit-code -- messages/

# Side by side with etcd on this machine (tests/etcdcompare/compare.sh says
# what it runs); builds etcd from the Go module proxy into ~/.cache once.
bench-etcd:
	bash tests/etcdcompare/compare.sh

# The plain KV hot path against an earlier commit (BASE=<rev>), one bench
# client for both arms (tests/etcdcompare/hotpath.sh says what it runs).
bench-hotpath:
	bash tests/etcdcompare/hotpath.sh
