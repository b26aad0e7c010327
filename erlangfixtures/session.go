package erlangfixtures

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A session is one process's fixtures: every container and network it
// creates carries its ID ([LabelSession]). While the process runs it holds a
// shared flock on a file named after the session, and the file's path and the
// host's name are labels too ([LabelSessionLock], [LabelHost]). The kernel
// drops the lock when the process ends, however it ends (a test binary
// killed at a deadline, a CI job stopped with its machine's Docker engine
// still holding the containers), so what the session left can be told from
// what a run alongside is still using: see [SessionEnded].

// sessionLockDir holds one lock file per session of a process that made fixtures.
var sessionLockDir = filepath.Join(os.TempDir(), "chaos-epmd-sessions")

type session struct {
	id     string
	labels map[string]string
	lock   *os.File // held for the life of the process; nil when it could not be taken
}

var thisSession = sync.OnceValue(func() session {
	s := session{id: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())}
	s.labels = map[string]string{LabelFixture: "1", LabelSession: s.id}
	// Without the lock labels, a reaper leaves this session's fixtures
	// alone ([SessionUnknown]); its own cleanup still removes them.
	host, err := os.Hostname()
	if err != nil {
		return s
	}
	f, path, err := holdSessionLock(sessionLockDir, s.id)
	if err != nil {
		return s
	}
	s.lock = f
	s.labels[LabelHost] = host
	s.labels[LabelSessionLock] = path
	return s
})

func sessionID() string { return thisSession().id }

func fixtureLabels() map[string]string { return maps.Clone(thisSession().labels) }

// holdSessionLock creates dir/id and takes a shared flock on it. The file is
// made under a temporary name and renamed once locked, so a sweep of dir
// never sees it unlocked (and removes it) before its owner holds it.
func holdSessionLock(dir, id string) (f *os.File, path string, err error) {
	if err := os.MkdirAll(dir, 0o1777); err != nil {
		return nil, "", err
	}
	_ = os.Chmod(dir, 0o1777) // past the umask, for other users' test runs; fails harmlessly if not ours
	tmp, err := os.CreateTemp(dir, ".new-*")
	if err != nil {
		return nil, "", err
	}
	if err := syscall.Flock(int(tmp.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, "", err
	}
	final := filepath.Join(dir, id)
	if err := os.Rename(tmp.Name(), final); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, "", err
	}
	return tmp, final, nil // the lock stays on the renamed inode
}

// SessionState says whether the process that made a fixture still runs.
type SessionState int

const (
	// SessionUnknown: nothing here can tell — the fixture has no lock
	// labels (made before they existed, or by a process that could not take
	// its lock) or was made on another host.
	SessionUnknown SessionState = iota
	// SessionLive: the process holds its session's lock.
	SessionLive
	// SessionEnded: the process is gone, its lock file free or removed.
	SessionEnded
)

func (s SessionState) String() string {
	switch s {
	case SessionLive:
		return "running"
	case SessionEnded:
		return "ended"
	default:
		return "unknown"
	}
}

// judgeSession tells the state of the session whose fixture has labels,
// seen from a process on host; why says how it was told.
func judgeSession(labels map[string]string, host string) (state SessionState, why string) {
	lock, fromHost := labels[LabelSessionLock], labels[LabelHost]
	switch {
	case lock == "" || fromHost == "":
		return SessionUnknown, "no session lock label"
	case fromHost != host:
		return SessionUnknown, "made on host " + fromHost
	}
	switch free, err := lockFree(lock); {
	case errors.Is(err, os.ErrNotExist):
		return SessionEnded, "its lock file is gone"
	case err != nil:
		return SessionUnknown, err.Error()
	case free:
		return SessionEnded, "its process no longer holds " + lock
	default:
		return SessionLive, "its process holds " + lock
	}
}

// lockFree reports whether no process holds a lock on the file at path,
// by taking an exclusive lock and dropping it.
func lockFree(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	default:
		return false, fmt.Errorf("flock %s: %w", path, err)
	}
}

// sweepSessionLocks removes the lock files in dir that no process holds:
// a session whose file is gone counts as ended, as it did with the file.
// Files still under their temporary name are their owners' to rename.
func sweepSessionLocks(dir string) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".new-") || !e.Type().IsRegular() {
			continue
		}
		// Session IDs are never reused, so no owner can take the file
		// between the check and the removal.
		p := filepath.Join(dir, e.Name())
		if free, err := lockFree(p); err == nil && free {
			os.Remove(p)
		}
	}
}
