package scenarios_test

import (
	"context"
	"os"
	"testing"

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

// Nothing of this process may be left behind.
var _ = SynchronizedAfterSuite(func(ctx SpecContext) {
	if erlangfixtures.EngineAvailable(ctx) != nil {
		return
	}
	left, err := erlangfixtures.Leftovers(context.WithoutCancel(ctx), erlangfixtures.Session())
	Expect(err).NotTo(HaveOccurred())
	Expect(left).To(BeEmpty(), "containers or networks left behind")
}, func() {})
