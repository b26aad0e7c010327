package scenarios_test

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

func TestScenarios(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(eventually)
	// Eventually(ctx, ...) is bounded by eventually too, not by the spec's
	// deadline alone: no Eventually needs to repeat WithTimeout(eventually).
	EnforceDefaultTimeoutsWhenUsingContexts()
	SetDefaultEventuallyPollingInterval(pollEvery)
	SetDefaultConsistentlyDuration(consistently)
	SetDefaultConsistentlyPollingInterval(pollEvery)
	RunSpecs(t, "chaos-epmd scenarios")
}

// The images and the chaos-epmd binary are built once, by the first
// process; the others reuse them (both are cached by content).
var _ = SynchronizedBeforeSuite(func(ctx SpecContext) {
	if err := erlangfixtures.EngineAvailable(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			Fail("CI=true and no Docker engine answers (make test starts one): " + err.Error())
		}
		Skip("no Docker engine: " + err.Error())
	}
	if err := erlangfixtures.EngineResponsive(ctx, engineAnswersWithin); err != nil {
		Fail(err.Error())
	}
	for _, r := range erlangfixtures.Releases() {
		_, _, err := erlangfixtures.BuildImage(ctx, r, erlangfixtures.BuildOptions{})
		Expect(err).NotTo(HaveOccurred(), "build the %s image", r)
	}
	_, err := erlangfixtures.ChaosEpmdBinary(ctx)
	Expect(err).NotTo(HaveOccurred())
}, func(ctx SpecContext) {
	if err := erlangfixtures.EngineAvailable(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			Fail("CI=true and no Docker engine answers: " + err.Error())
		}
		Skip("no Docker engine: " + err.Error())
	}
	_, err := erlangfixtures.ChaosEpmdBinary(ctx)
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(suiteSetupTimeout))

// A spec that failed may have failed because the Docker engine stopped
// answering network calls (erlangfixtures.EngineResponsive says when and
// why): then every later spec would wait out its own timeout in its first
// fixture, so the suite stops at once, on every process, with that diagnosis.
var _ = AfterEach(func(ctx SpecContext) {
	if !CurrentSpecReport().Failed() {
		return
	}
	if err := erlangfixtures.EngineResponsive(ctx, engineAnswersWithin); errors.Is(err, erlangfixtures.ErrEngineHung) {
		engineHung.Store(true)
		AbortSuite(err.Error())
	}
}, NodeTimeout(engineAnswersWithin+10*time.Second))

// engineHung is set once this process found the engine hung.
var engineHung atomic.Bool

// Nothing of this process may be left behind. An engine that no longer
// answers network calls cannot say, and fails the suite instead.
var _ = SynchronizedAfterSuite(func(ctx SpecContext) {
	if erlangfixtures.EngineAvailable(ctx) != nil {
		return
	}
	if engineHung.Load() { // this process's abort already says so
		AddReportEntry("leftovers not checked: " + erlangfixtures.ErrEngineHung.Error())
		return
	}
	// After an abort by another process Ginkgo leaves this one 30 s (its
	// grace period), hence a shorter wait here.
	if err := erlangfixtures.EngineResponsive(ctx, engineAnswersAfterSuite); err != nil {
		Fail("leftovers not checked: " + err.Error())
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupWithin)
	defer cancel()
	left, err := erlangfixtures.Leftovers(lctx, erlangfixtures.Session())
	Expect(err).NotTo(HaveOccurred())
	Expect(left).To(BeEmpty(), "containers or networks left behind")
}, func() {})
