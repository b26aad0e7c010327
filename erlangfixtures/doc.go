// Package erlangfixtures runs real Erlang/OTP nodes in containers for tests,
// on machines that reach Debian's package mirror but no container registry.
//
// # Host and images
//
// hostsetup.sh (root, Debian; idempotent) installs Debian's docker.io and
// debootstrap when needed and starts dockerd in the background when no engine
// answers. Images are built offline from the mirror in the machine's apt
// sources. Each subject is one file: an OTP release (otp25.go: bookworm, the
// default; otp27.go: trixie; otp29.go: forky) or an application on every
// release (elixir.go: [Elixir]; rabbitmq.go: [RabbitMQ]). [BuildImages] builds
// the missing ones suite by suite in parallel: debootstrap --variant=minbase
// with erlang-base once per suite, then each image derived from that base
// (applications: apt-get install in a chroot), trimmed and imported as
// chaos-epmd/erlang:<release>-otp<N>-<hash> or chaos-epmd/<app>:..., where the
// hash covers the release, the packages and the recipe ([Image.Ref]).
// `go run ./erlangfixtures/cmd/erlfix images` builds all nine (about 3.5
// minutes cold on 2 loaded cores, under a second when present), and [Run]
// builds a missing one on demand when running as root; [WithApplication] runs
// the node in an application's image. [ChaosImage] (`make image`) is
// chaos-epmd:<version>, FROM scratch with the static binary alone.
// [WithImage] uses any existing local image instead (e.g. an official erlang:
// image where a registry is reachable).
//
// testcontainers-go is configured for this world by the package itself: the Ryuk
// reaper (an image that cannot be pulled) is disabled, nothing is pulled, and
// cleanup is the caller's: [Node.Terminate], [Cluster.Terminate] or
// [WithCleanup](t.Cleanup). Every container and network carries the labels
// [LabelFixture] and [LabelSession]; [Leftovers] and `erlfix leftovers|clean`
// find and remove what a crashed run left. A process holds a lock while it
// runs, named in [LabelSessionLock]: [RemoveEndedLeftovers] (`erlfix clean
// -ended`, which `make test` runs first) removes only what processes that
// have ended left, never what a run alongside uses. [PruneImages] and `erlfix prune`
// remove the images the tree no longer uses ([PlanPrune] decides which), or
// every fixture image with -all.
//
// # Nodes
//
// [Run] starts one node per container with the options of [Option]
// (testcontainers' own customizers through [WithCustomizers]). The container's entry
// point, node.sh, starts the epmd the options ask for ([EpmdMode]: OTP's C
// epmd, chaos-epmd with faults and an admin API, or nothing so that erl
// auto-starts its epmd — which [EpmdChaosAuto] has replaced with chaos-epmd),
// then execs erl. erl boots without distribution unless [WithDistAtBoot]; it
// runs chaos_agent, a small Erlang server on its own TCP port ([AgentPort])
// that evaluates expressions and answers with the value or the exception
// printed as terms. The agent is the control channel: it needs neither epmd nor
// distribution, so a test can call net_kernel:start/2 ([Node.StartDistribution]),
// read OTP's exact {error,...} ([ResultError]) or exception ([EvalError]), kill
// and restart epmd ([Node.KillEpmd], [Node.StartEpmd]) and look again. The test
// process dials agents and chaos-epmd admin APIs on the containers' own
// addresses; nothing is published on the host.
//
// Start-up the way users do it is kept: [WithDistAtBoot] puts -sname/-name on
// erl's command line (a failure gives a [*StartError] with erl's exit status and
// log), and [Node.Erl] runs any plain erl command line in the container.
//
// chaos-epmd is built once per test process (CGO_ENABLED=0 go build
// ./cmd/chaos-epmd, or $CHAOS_EPMD_BINARY). An [EpmdChaos] node runs it from
// [ChaosImage] as a sidecar container started with the node container's
// network and pid namespaces (Docker's container:ID modes): node.sh waits
// for it to listen before it execs erl, erl reaches it on loopback, its admin
// API is on the node's address, and [Node.KillEpmd] and [Node.EpmdProcesses]
// see its process; [Node.Logs] merges its log into the node's, and
// [Node.Terminate] removes it. [WithChaosInContainer] copies the binary
// into the node's container and runs it there instead, as [EpmdChaosAuto]
// must. [Node.ChaosClient] is a faults.Client for its admin API;
// [Node.ChaosCtl] runs "chaos-epmd ctl" next to it.
//
// # Clusters
//
// [RunCluster] starts N nodes in parallel on one fresh network, node i with
// hostname and alias n<i+1>, and with [Joined] connects them all. Its errors
// carry every node's log; [Cluster.Logs] gives them for a failed test.
//
//	c, err := erlangfixtures.RunCluster(ctx, 3,
//		erlangfixtures.WithNodeOptions(erlangfixtures.WithChaosEpmd("delay_write=1,req=port_please")),
//		erlangfixtures.WithNodeOptionsAt(2, erlangfixtures.WithRelease(erlangfixtures.OTP27)),
//		erlangfixtures.Joined(),
//		erlangfixtures.WithCleanup(t.Cleanup))
//
// # Applications
//
// [RunApp] runs any image as a node with nothing of the fixtures inside it
// (no agent, no script, no shell needed). With [WithChaosSidecar] a
// chaos-epmd container ([ChaosImage], FROM scratch) starts first, owns the
// pod's network namespace and listens; the application joins it (Docker's
// container:ID network mode, the Kubernetes pod model), its own epmd -daemon
// finds the port taken, and it registers with chaos-epmd over loopback.
// RunApp returns once the node is in the sidecar's registry. Read the app
// from outside: [App.ChaosClient], [App.Logs], [App.State], [App.Exec], and
// [App.Eval], which runs Erlang on the app over distribution from a hidden
// probe node. [BuildRefApp] builds the reference Elixir release (refapp/)
// offline into a Debian image and a no-shell image.
//
//	app, err := erlangfixtures.RunApp(ctx, imgs.Debian,
//		erlangfixtures.WithNetwork(nw.Name, "n1"), erlangfixtures.WithSName("refapp"),
//		erlangfixtures.WithChaosSidecar("drop,req=port_please,first=3"),
//		erlangfixtures.WithCleanup(t.Cleanup))
//
// Tests that need an engine call [RequireEngine] first: without one they skip,
// except under CI=true, where they fail.
package erlangfixtures
