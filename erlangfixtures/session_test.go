package erlangfixtures

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// lockLabels are the labels a session holding the lock at path puts on its fixtures.
func lockLabels(id, path, host string) map[string]string {
	return map[string]string{LabelFixture: "1", LabelSession: id, LabelSessionLock: path, LabelHost: host}
}

func TestJudgeSession(t *testing.T) {
	dir := t.TempDir()
	f, path, err := holdSessionLock(dir, "1-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "1-1"); path != want {
		t.Fatalf("lock path %q, want %q", path, want)
	}
	check := func(labels map[string]string, want SessionState, wantWhy string) {
		t.Helper()
		got, why := judgeSession(labels, "here")
		if got != want || why != wantWhy {
			t.Errorf("judgeSession(%v) = %v, %q; want %v, %q", labels, got, why, want, wantWhy)
		}
	}
	check(lockLabels("1-1", path, "here"), SessionLive, "its process holds "+path)
	check(lockLabels("1-1", path, "there"), SessionUnknown, "made on host there")
	check(map[string]string{LabelFixture: "1", LabelSession: "1-1"}, SessionUnknown, "no session lock label")
	f.Close()
	check(lockLabels("1-1", path, "here"), SessionEnded, "its process no longer holds "+path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	check(lockLabels("1-1", path, "here"), SessionEnded, "its lock file is gone")
}

// holdLockEnv, when set, makes this test binary the child of
// TestSessionLockKilledProcess: it takes a session lock in that directory,
// prints where, and waits for its standard input to close.
const holdLockEnv = "ERLFIX_TEST_HOLD_SESSION_LOCK"

func init() {
	dir := os.Getenv(holdLockEnv)
	if dir == "" {
		return
	}
	_, path, err := holdSessionLock(dir, "child")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("holding", path)
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed, or orphaned
	os.Exit(0)
}

// TestSessionLockKilledProcess: a process killed with SIGKILL, which runs no
// cleanup of its own, leaves its session judged ended; while it runs, running.
func TestSessionLockKilledProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holdLockEnv+"="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "holding ") {
		t.Fatalf("child: %v (read %q)", err, line)
	}
	path := strings.TrimSpace(strings.TrimPrefix(line, "holding "))
	labels := lockLabels("child", path, "here")
	if got, why := judgeSession(labels, "here"); got != SessionLive {
		t.Fatalf("with the child running: %v (%s), want running", got, why)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child's exit: %v, want killed", err)
	}
	if got, why := judgeSession(labels, "here"); got != SessionEnded || why != "its process no longer holds "+path {
		t.Fatalf("after SIGKILL: %v (%s), want ended, its process no longer holds %s", got, why, path)
	}
}

func TestSweepSessionLocks(t *testing.T) {
	dir := t.TempDir()
	held, heldPath, err := holdSessionLock(dir, "held")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	freed, _, err := holdSessionLock(dir, "freed")
	if err != nil {
		t.Fatal(err)
	}
	freed.Close()
	// A file its owner has not renamed yet is the owner's.
	if err := os.WriteFile(filepath.Join(dir, ".new-123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sweepSessionLocks(dir)
	var names []string
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		names = append(names, e.Name())
	}
	if want := []string{".new-123", "held"}; !slices.Equal(names, want) {
		t.Fatalf("after the sweep: %q, want %q", names, want)
	}
	if got, _ := judgeSession(lockLabels("held", heldPath, "h"), "h"); got != SessionLive {
		t.Fatalf("the held session after the sweep: %v, want running", got)
	}
}

// TestRemoveEndedLeftovers: with the engine, what an ended session left is
// removed and what a running one uses stays.
func TestRemoveEndedLeftovers(t *testing.T) {
	RequireEngine(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cli, err := dockerClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	live, livePath, err := holdSessionLock(dir, "live")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	stamp := time.Now().UnixNano()
	made := map[string]string{} // network name -> ID
	for _, s := range []struct{ name, session, path string }{
		{"erlfix-test-live", fmt.Sprintf("live-%d", stamp), livePath},
		{"erlfix-test-ended", fmt.Sprintf("ended-%d", stamp), filepath.Join(dir, "ended-never-made")},
	} {
		r, err := cli.NetworkCreate(ctx, fmt.Sprintf("%s-%d", s.name, stamp), client.NetworkCreateOptions{
			Labels: lockLabels(s.session, s.path, host),
		})
		if err != nil {
			t.Fatal(err)
		}
		made[s.name] = r.ID
		t.Cleanup(func() { _, _ = cli.NetworkRemove(context.Background(), r.ID, client.NetworkRemoveOptions{}) })
	}
	removed, kept, err := RemoveEndedLeftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ls []Leftover) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.ID)
		}
		return out
	}
	if !slices.Contains(ids(removed), made["erlfix-test-ended"]) || slices.Contains(ids(removed), made["erlfix-test-live"]) {
		t.Errorf("removed %v: want the ended session's network %.12s and not the live one's %.12s", removed, made["erlfix-test-ended"], made["erlfix-test-live"])
	}
	if !slices.Contains(ids(kept), made["erlfix-test-live"]) {
		t.Errorf("kept %v: want the live session's network %.12s", kept, made["erlfix-test-live"])
	}
	ls, err := Leftovers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(ls); slices.Contains(got, made["erlfix-test-ended"]) || !slices.Contains(got, made["erlfix-test-live"]) {
		t.Errorf("in the engine after: %v; want the live network only", ls)
	}
}
