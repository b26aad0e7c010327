// Package scenarios holds the Ginkgo specs that start real Erlang/OTP nodes
// in containers and check what they do with the C epmd and with
// chaos-epmd: cluster joins, custom epmd ports, -address restrictions,
// inet_dist_listen exhaustion, epmd's lifecycle, and every fault family.
//
// Run them with go test ./scenarios/... (or make scenarios, through the
// Ginkgo CLI in parallel with a JUnit report). One file per behaviour;
// Describe names the behaviour, Context the condition, It the outcome.
// Labels pick lanes: container, slow, fault:<kind>, otp:27, otp:29,
// app:elixir. Every fault story records what it observed into the
// fault-outcome matrix (matrix_test.go: recordOutcome; package matrix),
// written to build/fault-matrix.json and .md after a run.
package scenarios
