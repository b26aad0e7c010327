package epmd_test

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// inChild reports whether this process is the child that rerunInChild
// started for t: env holds t's name.
func inChild(t *testing.T, env string) bool { return os.Getenv(env) == t.Name() }

// dieWithTest returns attr (a new one when nil) with the child set to be
// killed when the test binary dies. A child whose server a broken build
// (make mutate) keeps from ending would otherwise outlive a run killed for
// its timeout; seen after a mutation run (TestHelperLowFileLimitServer,
// alive and idle after gremlins had finished).
func dieWithTest(attr *syscall.SysProcAttr) *syscall.SysProcAttr {
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Pdeathsig = syscall.SIGKILL
	return attr
}

// rerunInChild runs t again in a child process of this test binary, with
// env set to t's name (see inChild) and attr as the child's SysProcAttr
// when not nil (a network namespace of its own), for a test that needs a
// process of its own: a descriptor table no earlier test grew, a limit it
// may lower, a namespace. t passes, fails or skips as the child did (a
// child that must not skip under CI=true fails instead). It returns the
// child's output.
func rerunInChild(t *testing.T, env string, attr *syscall.SysProcAttr) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	cmd.SysProcAttr = dieWithTest(attr)
	b, err := cmd.CombinedOutput()
	out := string(b)
	switch {
	case err != nil:
		t.Fatalf("child: %v\n%s", err, out)
	case strings.Contains(out, "--- SKIP: "+t.Name()+" "):
		t.Skipf("child skipped:\n%s", out)
	case !strings.Contains(out, "--- PASS: "+t.Name()+" "):
		t.Fatalf("child did not pass:\n%s", out)
	}
	return out
}
