package scenarios_test

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
	"github.com/chaos-epmd/chaos-epmd/faults"
)

// chaosControl returns the control client of the chaos-epmd running in n's
// container, and attaches its event stream to the report if the spec fails.
func chaosControl(ctx context.Context, n *erlangfixtures.Node) *faults.Client {
	GinkgoHelper()
	cl, err := n.ChaosClient(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var b strings.Builder
		err := cl.Events(ctx, 0, false, func(e faults.Event) error {
			line, _ := json.Marshal(e)
			b.Write(line)
			b.WriteByte('\n')
			return nil
		})
		if err != nil {
			b.WriteString("events: " + err.Error())
		}
		AddReportEntry("chaos-epmd events of "+n.Name(), b.String(), ReportEntryVisibilityFailureOrVerbose)
	})
	return cl
}

// addFault adds a fault at run time and returns its id.
func addFault(ctx context.Context, cl *faults.Client, spec string) uint64 {
	GinkgoHelper()
	info, err := cl.Add(ctx, spec)
	Expect(err).NotTo(HaveOccurred(), "add fault %q", spec)
	return info.ID
}

// removeFault removes a fault added at run time.
func removeFault(ctx context.Context, cl *faults.Client, id uint64) {
	GinkgoHelper()
	Expect(cl.Remove(ctx, id)).To(Succeed())
}

// fired returns how often each installed fault fired, by spec.
func fired(ctx context.Context, cl *faults.Client) func(Gomega) map[string]uint64 {
	return func(g Gomega) map[string]uint64 {
		infos, err := cl.Faults(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		out := map[string]uint64{}
		for _, i := range infos {
			out[i.Spec] = i.Fired
		}
		return out
	}
}
