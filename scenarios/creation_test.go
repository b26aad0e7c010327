package scenarios_test

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

// unregisteredWithin bounds how long epmd takes to drop a name after
// net_kernel:stop() closed its registration connection (polled on the node
// every 10 ms).
const unregisteredWithin = 5 * time.Second

// reregistrations is how many times the creation spec stops and starts
// distribution again under the same name.
const reregistrations = 3

var _ = Describe("creation across re-registration", Label("container"), func() {
	DescribeTable("a name registered again within the same second gets the remembered creation plus one, a new name the clock's",
		func(ctx SpecContext, mode erlangfixtures.EpmdMode) {
			n := startNode(ctx, erlangfixtures.WithSName("n1@n1"), erlangfixtures.WithHostname("n1"), erlangfixtures.WithEpmd(mode))
			// One Eval does every registration, so they all fall well within
			// one second: an epmd taking each creation from the clock would
			// hand out the same value again.
			expr := fmt.Sprintf(`
				Start = fun() ->
					{ok, _} = net_kernel:start(%[1]s, #{name_domain => shortnames}),
					erlang:system_info(creation)
				end,
				Gone = fun G(0) -> still_registered;
				           G(K) -> {ok, Ns} = erl_epmd:names(),
				                   case lists:keymember("n1", 1, Ns) of
				                       true -> timer:sleep(10), G(K - 1);
				                       false -> ok
				                   end
				       end,
				Again = fun() -> ok = net_kernel:stop(), ok = Gone(%[2]d), Start() end,
				C1 = Start(),
				[C1 | [Again() || _ <- lists:seq(1, %[3]d)]]`,
				erlangfixtures.Atom("n1"), unregisteredWithin.Milliseconds()/10, reregistrations)
			before := time.Now().Unix()
			start := time.Now()
			got := eval(ctx, n, "%s", expr)
			took := time.Since(start)
			after := time.Now().Unix()
			AddReportEntry("creations", got+" in "+took.Round(time.Millisecond).String())

			first := strings.TrimPrefix(strings.SplitN(got, ",", 2)[0], "[")
			c1, err := strconv.ParseUint(first, 10, 32)
			Expect(err).NotTo(HaveOccurred(), "first creation in %s", got)
			By("a new name: the Unix time of its registration plus one (32-bit, OTP 25+)")
			Expect(int64(c1)-1).To(BeNumerically(">=", before), got)
			Expect(int64(c1)-1).To(BeNumerically("<=", after), got)
			By("the same name again: the remembered creation plus one, each time")
			want := make([]string, 0, reregistrations+1)
			for i := range uint64(reregistrations + 1) {
				want = append(want, strconv.FormatUint(c1+i, 10))
			}
			Expect(got).To(Equal("["+strings.Join(want, ",")+"]"), "all %d registrations took %s", reregistrations+1, took)
			Expect(registered(ctx, n)(Default)).To(Equal([]string{"n1"}))
		}, epmds)
})
