package erlangfixtures

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// listerFunc makes a function a networkLister.
type listerFunc func(ctx context.Context, opts client.NetworkListOptions) (client.NetworkListResult, error)

func (f listerFunc) NetworkList(ctx context.Context, opts client.NetworkListOptions) (client.NetworkListResult, error) {
	return f(ctx, opts)
}

// hung answers only when the call is given up.
var hung = listerFunc(func(ctx context.Context, _ client.NetworkListOptions) (client.NetworkListResult, error) {
	<-ctx.Done()
	return client.NetworkListResult{}, ctx.Err()
})

func TestEngineResponsive(t *testing.T) {
	failing := listerFunc(func(context.Context, client.NetworkListOptions) (client.NetworkListResult, error) {
		return client.NetworkListResult{}, errors.New("Error response from daemon: 500")
	})
	answering := listerFunc(func(_ context.Context, o client.NetworkListOptions) (client.NetworkListResult, error) {
		if got := o.Filters["label"]; len(got) != 1 || !got[LabelFixture+"=1"] {
			t.Errorf("filters %v, want only the fixture label", o.Filters)
		}
		return client.NetworkListResult{}, nil
	})
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		cli  networkLister
		hung bool
	}{
		{"answers", t.Context(), answering, false},
		{"answers with an error", t.Context(), failing, false},
		{"no answer", t.Context(), hung, true},
		{"the caller gave up first", cancelled, hung, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := engineResponsive(tt.ctx, tt.cli, 20*time.Millisecond)
			if got := errors.Is(err, ErrEngineHung); got != tt.hung {
				t.Fatalf("engineResponsive: %v, want hung=%v", err, tt.hung)
			}
			if !tt.hung && err != nil {
				t.Fatalf("engineResponsive: %v, want nil", err)
			}
			if tt.hung {
				const want = "the Docker engine stopped answering network calls: no answer to a network list in 20ms. " +
					"Debian bookworm's docker.io 20.10.24 can deadlock when containers leave one network at once (moby/moby#42545): " +
					"kill -USR1 the dockerd process for its goroutine stacks (written under /var/run/docker), " +
					"then restart dockerd and containerd, and run make fixtures-clean"
				if err.Error() != want {
					t.Fatalf("error\n%s\nwant\n%s", err, want)
				}
			}
		})
	}
}

// TestEngineResponsiveRealClient runs the probe with Docker's own client
// against an engine that, as a deadlocked dockerd does, answers its ping but
// never a network list: the client must give the call up at the deadline.
func TestEngineResponsiveRealClient(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var pings, lists atomic.Int32
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			pings.Add(1)
			w.Header().Set("Api-Version", "1.41")
			_, _ = w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/networks"):
			lists.Add(1)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		default:
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		close(release)
		_ = srv.Close()
	})
	cli, err := client.New(client.WithHost("unix://"+sock), client.WithAPIVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	start := time.Now()
	err = engineResponsive(t.Context(), cli, 200*time.Millisecond)
	took := time.Since(start)
	if !errors.Is(err, ErrEngineHung) {
		t.Fatalf("engineResponsive: %v, want ErrEngineHung", err)
	}
	if took > 10*time.Second {
		t.Fatalf("engineResponsive took %v to give up a 200ms wait", took)
	}
	if n := lists.Load(); n != 1 {
		t.Fatalf("%d network lists, want 1", n)
	}
	if _, err := cli.Ping(t.Context(), client.PingOptions{}); err != nil {
		t.Fatalf("ping the fake engine: %v", err)
	}
	if n := pings.Load(); n != 1 {
		t.Fatalf("%d pings, want 1", n)
	}
}
