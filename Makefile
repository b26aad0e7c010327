# chaos-epmd — see README.md. Every target works on a fresh Debian machine
# as root: what the tests need is installed by the targets themselves.

GO        ?= go
BIN       := bin/chaos-epmd
PORT      ?= $(or $(ERL_EPMD_PORT),4369)
FUZZTIME  ?= 30s
# flake-guard's extra runs of the fast fault specs beyond the first (1 = twice)
FLAKE_REPEAT ?= 1
APT_PKGS  := erlang-base erlang-common-test erlang-dev iproute2 gcc libc6-dev chromium systemd linux-perf
# The scenarios' chaos-epmd: the static binary built here, not one per process.
export CHAOS_EPMD_BINARY := $(CURDIR)/$(BIN)

.PHONY: all build run test unit lint deps otp-suite scenarios bench bench-accept bench-crosscheck bench-scale fuzz clean

all: build

## build: the static chaos-epmd binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/chaos-epmd

## run: build chaos-epmd and run it in the foreground as an epmd (ARGS="-d" to add flags);
## when another process listens on the port, say which one and fail (the binary
## itself exits 0 silently then, as the C epmd does)
run: build
	@sh cmd/chaos-epmd/port-holder.sh $(PORT) $(ARGS)
	./$(BIN) -port $(PORT) $(ARGS)

## deps: install what the tests need from Debian (Erlang for the differential tests,
## Chromium for the admin page's browser test, perf for the accept trace)
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## unit: tests of epmd, faults and the command, with the differential tests against the C epmd
unit: deps build
	$(GO) test -count=1 ./epmd/... ./faults/... ./cmd/...

## test: everything — lint, unit and differential tests (race detector on; the allocation counts without it), fixtures, every scenario, OTP's epmd_SUITE
test: deps lint build fixtures
	$(MAKE) --no-print-directory fixtures-reap
	$(GO) test -race -count=1 ./epmd/... ./faults/... ./cmd/...
	$(GO) test -count=1 -run 'Allocates|Reuse' ./epmd/
	$(GO) test -count=1 ./erlangfixtures/... ./scenarios/matrix/...
	$(MAKE) --no-print-directory scenarios
	$(MAKE) --no-print-directory flake-guard
	$(MAKE) --no-print-directory fixtures-check
	$(MAKE) --no-print-directory otp-suite

## scenarios: the whole Ginkgo suite (slow lane included) through the Ginkgo CLI
## in SCENARIO_PROCS processes (most of a spec's time is waiting on OTP's own
## timers, so more processes than cores pay off), JUnit report and the run's
## fault-outcome matrix in build/; `go test ./scenarios/...` runs the same specs
## in one process
SCENARIO_PROCS ?= 3
scenarios: build fixtures
	mkdir -p build
	$(GO) tool ginkgo -p --procs=$(SCENARIO_PROCS) --timeout=40m --junit-report=scenarios-junit.xml --output-dir=build $(GINKGO_ARGS) ./scenarios

## flake-guard: after the suite's own run, the fast fault specs 1+FLAKE_REPEAT
## times more (twice), in two Ginkgo processes, so a race between a fault and
## OTP fails CI before it lands: a fault:* label, not slow, not an application
## story, on the default release (the otp:* variants run the same stories
## through the same erl_epmd code); 58 specs, 3 min 16 s on a loaded 2-core machine
.PHONY: flake-guard
flake-guard: build fixtures
	FAULT_MATRIX_DIR=$(CURDIR)/build/flake-guard $(GO) tool ginkgo -p --procs=2 --label-filter='/^fault:/ && !slow && !/^app:/ && !/^otp:/' --repeat=$(FLAKE_REPEAT) --timeout=30m $(GINKGO_ARGS) ./scenarios

## fault-matrix: fold the last scenario run's fault-outcome matrix into the
## committed scenarios/testdata/fault-matrix.json and regenerate README.md's
## table of fault kinds and faults/README.md's observations from it
## (FAULT_MATRIX_RUN: other runs' matrices or JUnit reports, comma-separated);
## a dry run of the suite lists the stories, and rows of stories gone are dropped;
## the whole matrix as tables: build/fault-matrix-committed.md
FAULT_MATRIX_RUN ?= build/fault-matrix.json
.PHONY: fault-matrix
fault-matrix:
	mkdir -p build
	$(GO) tool ginkgo --dry-run --json-report=scenarios-specs.json --output-dir=build ./scenarios >/dev/null
	$(GO) run ./cmd/fault-matrix -run '$(FAULT_MATRIX_RUN)' -specs build/scenarios-specs.json -md build/fault-matrix-committed.md

## otp-suite: OTP's own epmd_SUITE (fetched at run time) against chaos-epmd
otp-suite: deps build
	bash cmd/chaos-epmd/testdata/otp-epmd-suite.sh $(BIN)

## bench: micro-benchmarks (codec, registry, handler chain, injector), then
## the load comparison (1000 nodes, 4 clients) of the C epmd, chaos-epmd and,
## when its source is there, nullepmd: the machine's ceiling (NULLEPMD_SRC);
## each phase in 4 slices taking turns, A B C A B C ... (-slices 4). With
## nullepmd, a second one (null2) runs too: null2/null is what this machine's
## noise alone makes of two equal servers in the same run, the scale against
## which to read chaos/null
NULLEPMD_SRC ?= $(wildcard ../shared/tools/nullepmd/nullepmd.c)
BENCH_TARGETS = -target 'C=epmd -port 14369 -relaxed_command_check' \
	  $(if $(NULLEPMD_SRC),-target 'null=build/nullepmd -port 14371') \
	  -target 'chaos=$(BIN) -port 14370 -relaxed_command_check' \
	  -ref C $(if $(NULLEPMD_SRC),-ref null)
BENCH_CONTROL = $(if $(NULLEPMD_SRC),-target 'null2=build/nullepmd -port 14374')
BUILD_NULLEPMD = mkdir -p build $(if $(NULLEPMD_SRC),&& cc -O2 -Wall -o build/nullepmd $(NULLEPMD_SRC))
bench: build deps
	$(BUILD_NULLEPMD)
	$(GO) test -run='^$$' -bench=. -benchmem -count=6 ./epmd/ ./faults/ | tee build/bench-micro.txt
	$(GO) run ./cmd/epmd-bench $(BENCH_TARGETS) $(BENCH_CONTROL) -slices 4 -benchout build/bench-epmd.txt $(BENCHFLAGS)

## bench-accept: the same servers' accept calls while 1000 nodes register,
## traced with perf (root; deps installs linux-perf): calls over 1 ms, and
## their time blocked, waiting for a CPU, in softirqs, or running (or stolen),
## and how much of it the host stole at least
bench-accept: build deps
	$(BUILD_NULLEPMD)
	$(GO) run ./cmd/epmd-bench $(BENCH_TARGETS) -phases register -rounds 5 -accept-trace $(BENCHFLAGS)

## bench-crosscheck: the same servers measured by a second load client, in C
## (cmd/epmd-bench/testdata/crosscheck.c, none of epmd-bench's code): the
## PORT_PLEASE2 and churn comparisons, 1000 more nodes held by each server, 9
## rounds of 8000 requests taking turns, each after the conntrack table (when
## loaded) is at most half full; the first target (nullepmd when its source
## is there) is the reference. CROSSCHECKFLAGS: the client's flags;
## CROSSCHECK_MORE: more 'NAME=COMMAND -port N' targets
CROSSCHECK_TARGETS = $(if $(NULLEPMD_SRC),'null=build/nullepmd -port 14371') \
	  'C=epmd -port 14369 -relaxed_command_check' \
	  'chaos=$(BIN) -port 14370 -relaxed_command_check'
bench-crosscheck: build deps
	$(BUILD_NULLEPMD)
	cc -O2 -Wall -o build/crosscheck cmd/epmd-bench/testdata/crosscheck.c
	CROSSCHECKFLAGS='$(CROSSCHECKFLAGS)' bash cmd/epmd-bench/testdata/crosscheck.sh build/crosscheck $(CROSSCHECK_TARGETS) $(CROSSCHECK_MORE)

## bench-scale: 19,900 registrations held by one chaos-epmd process
bench-scale: build
	$(GO) run ./cmd/epmd-bench -target 'chaos=$(BIN) -port 14380' -nodes 19900 -clients 4 -workers 4 -rounds 1 -warmup=false -phases register,names,port_please -names-count 40 -pp-count 4000 -v $(BENCHFLAGS)

## fuzz: each fuzz target for FUZZTIME (default 30s)
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseRequest$$' -fuzztime=$(FUZZTIME) ./epmd
	$(GO) test -run='^$$' -fuzz='^FuzzReadFrame$$' -fuzztime=$(FUZZTIME) ./epmd
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./faults
	$(GO) test -run='^$$' -fuzz='^FuzzReadRequest$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=200x ./faults
	$(GO) test -run='^$$' -fuzz='^FuzzParseArgs$$' -fuzztime=$(FUZZTIME) ./cmd/chaos-epmd
	$(GO) test -run='^$$' -fuzz='^FuzzParseAcceptTrace$$' -fuzztime=$(FUZZTIME) ./cmd/epmd-bench
	$(GO) test -run='^$$' -fuzz='^FuzzParseHostCPU$$' -fuzztime=$(FUZZTIME) ./cmd/epmd-bench

clean: fixtures-clean
	rm -rf bin build

## --- Erlang fixtures (erlangfixtures/): Docker engine + offline OTP images ---
.PHONY: fixtures image fixtures-check fixtures-reap fixtures-clean fixtures-prune fixtures-purge

## fixtures: install/start a Docker engine when none answers (root, Debian), then
## build the images offline when missing (seconds when present): OTP 25, 27 and
## 29, Elixir and RabbitMQ on each (erlfix images -images LIST for fewer), and
## the chaos-epmd image
fixtures: image
	$(GO) run ./erlangfixtures/cmd/erlfix images

## image: chaos-epmd:<version> FROM scratch, holding only the static binary,
## imported offline (nothing pulled; <version>: git describe, plus the
## binary's hash when the tree is dirty)
image: build
	sh erlangfixtures/hostsetup.sh
	$(GO) run ./erlangfixtures/cmd/erlfix chaos-image

## fixtures-check: fail if any fixture container or network is left behind by
## a process that has ended (those of test processes still running are listed)
fixtures-check:
	$(GO) run ./erlangfixtures/cmd/erlfix leftovers -ended

## fixtures-reap: remove the fixture containers and networks of test processes
## that have ended on this host (a run killed at a deadline, a crash): each
## process holds a lock while it runs, so a run alongside keeps what it uses
fixtures-reap:
	$(GO) run ./erlangfixtures/cmd/erlfix clean -ended

## fixtures-clean: remove every fixture container and network (labelled org.chaos-epmd.fixture=1)
fixtures-clean:
	$(GO) run ./erlangfixtures/cmd/erlfix clean

## fixtures-prune: remove the fixture images this tree no longer uses: dangling
## ones, chaos-epmd:<version> tags other than the one `make image` gives this
## tree, OTP, Elixir, RabbitMQ and refapp images of an old hash; never one a
## container uses (erlfix prune -n: only list them)
fixtures-prune: build
	$(GO) run ./erlangfixtures/cmd/erlfix prune

## fixtures-purge: remove every fixture image (labelled org.chaos-epmd.fixture=1),
## to give a host back; never one a container uses (fixtures-clean first)
fixtures-purge:
	$(GO) run ./erlangfixtures/cmd/erlfix prune -all

## --- Mutation testing (cmd/mutate) ---
.PHONY: mutate mutate-scenarios

GREMLINS_VERSION ?= v0.6.0
GREMLINS         := build/tools/gremlins-$(GREMLINS_VERSION)
# TestHoldPorts picks ports free on 127.0.0.1 only and fails when another
# address holds one (a busy machine): kept out of the per-mutant runs, where
# one failure stops gremlins; TestHoldPortsHoldsTheWholeRange replaces it.
MUTATE_ARGS      ?= -skip 'faults=^TestHoldPorts$$'

$(GREMLINS):
	mkdir -p build/tools
	GOBIN=$(CURDIR)/build/tools $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	mv build/tools/gremlins $(GREMLINS)

## mutate: gremlins over epmd and faults on a snapshot of the work tree, the
## fast unit tests per mutant; prints test efficacy, mutator coverage and
## the surviving mutants (equivalent ones: cmd/mutate/equivalent.txt)
mutate: $(GREMLINS)
	$(GO) run ./cmd/mutate units -gremlins $(CURDIR)/$(GREMLINS) $(MUTATE_ARGS)

## mutate-scenarios: the scenario suite against deliberately broken chaos-epmd
## builds (cmd/mutate/mutants.go); which specs failed per mutant
## (MUTATE_SCENARIOS_ARGS='-focus REGEXP' or '-label-filter ...' for a subset)
mutate-scenarios: fixtures
	$(GO) run ./cmd/mutate scenarios $(MUTATE_SCENARIOS_ARGS)
