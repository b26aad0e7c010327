# chaos-epmd — see README.md. Every target works on a fresh Debian machine
# as root: what the tests need is installed by the targets themselves.

GO        ?= go
BIN       := bin/chaos-epmd
PORT      ?= $(or $(ERL_EPMD_PORT),4369)
FUZZTIME  ?= 30s
APT_PKGS  := erlang-base erlang-common-test

.PHONY: all build run test unit lint deps otp-suite bench fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/chaos-epmd

## run: build chaos-epmd and run it in the foreground as an epmd
run: build
	./$(BIN) -port $(PORT) $(ARGS)

## deps: install what the tests need (Erlang from Debian, for the differential tests)
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## unit: the Go tests of the epmd, faults and cmd packages (no containers)
unit: deps build
	$(GO) test -count=1 ./epmd/... ./faults/... ./cmd/...

## test: everything — lint, unit and differential tests, OTP's epmd_SUITE, scenarios
test: deps lint build
	$(GO) test -count=1 ./...
	$(MAKE) otp-suite

## otp-suite: OTP's own epmd_SUITE (fetched at run time) against chaos-epmd
otp-suite: deps build
	bash cmd/chaos-epmd/testdata/otp-epmd-suite.sh $(BIN)

bench: build
	$(GO) test -run='^$$' -bench=. -benchmem ./epmd/...

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParseRequest -fuzztime=$(FUZZTIME) ./epmd
	$(GO) test -run='^$$' -fuzz=FuzzReadFrame -fuzztime=$(FUZZTIME) ./epmd

clean:
	rm -rf bin build
