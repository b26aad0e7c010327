package erlangfixtures_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/chaos-epmd/chaos-epmd/erlangfixtures"
)

// TestClusterTerminateOneAtATime reads the engine's own events for a
// cluster's removal: each node's container is gone (destroy) before the
// next one is stopped, so no two leave the network at once (see
// Cluster.Terminate for the engine deadlock that would follow).
func TestClusterTerminateOneAtATime(t *testing.T) {
	erlangfixtures.RequireEngine(t)
	ctx := testContext(t, 3*time.Minute)
	c, err := erlangfixtures.RunCluster(ctx, 3, erlangfixtures.WithCleanup(t.Cleanup))
	if err != nil {
		t.Fatal(err)
	}
	name := map[string]string{} // container ID → node
	for _, nd := range c.Nodes {
		name[nd.Container().GetContainerID()] = nd.Name()
	}
	since := time.Now()
	if err := c.Terminate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("3 nodes removed in %v", time.Since(since).Round(time.Millisecond))
	until := time.Now().Add(time.Second)

	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	res := cli.Events(ctx, client.EventsListOptions{
		Since:   fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
		Until:   fmt.Sprint(until.Unix()),
		Filters: make(client.Filters).Add("type", "container"),
	})
	var seq []string // node:action, in the engine's order
	for done := false; !done; {
		select {
		case m := <-res.Messages:
			if n, ok := name[m.Actor.ID]; ok {
				seq = append(seq, n+":"+string(m.Action))
			}
		case err := <-res.Err:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("events: %v", err)
			}
			done = true
		}
	}
	// Before a node's destroy, only its own events; after it, none of its.
	var want []string
	for _, nd := range c.Nodes {
		want = append(want, nd.Name())
	}
	var got []string // the nodes, each time another one's events begin
	for _, e := range seq {
		n, _, _ := strings.Cut(e, ":")
		if len(got) == 0 || got[len(got)-1] != n {
			got = append(got, n)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the nodes' events interleave: %v, want each node's run of events in turn, %v", seq, want)
	}
	for _, n := range want {
		if !slices.Contains(seq, n+":destroy") {
			t.Fatalf("no destroy event for %s in %v", n, seq)
		}
	}
	t.Logf("events: %v", seq)
}
