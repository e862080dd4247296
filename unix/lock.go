package unix

import (
	"fmt"
	"os"
	"sync"
)

// Listen's check-remove-bind of one path is serialized within this process
// by a mutex per path (where flock(2) exists the lock file does it too, and
// across processes).
var (
	pathsMu sync.Mutex
	paths   = map[string]*pathLock{} // guarded by pathsMu
)

type pathLock struct {
	mu    sync.Mutex
	users int // guarded by pathsMu: callers holding or waiting for mu
}

// lockInProcess takes path's in-process lock and returns its release.
func lockInProcess(path string) (unlock func()) {
	pathsMu.Lock()
	pl := paths[path]
	if pl == nil {
		pl = &pathLock{}
		paths[path] = pl
	}
	pl.users++
	pathsMu.Unlock()
	pl.mu.Lock()
	return func() {
		pl.mu.Unlock()
		pathsMu.Lock()
		if pl.users--; pl.users == 0 {
			delete(paths, path)
		}
		pathsMu.Unlock()
	}
}

// lockPath takes the lock that makes Listen's check of the file at path,
// its removal when stale, and the bind of a new socket one step for every
// Listen of that path — in this process and, where flock(2) exists, in
// others: an exclusive flock on path+".lock". The lock file is removed by
// unlock while still locked; a caller that opened it before the removal
// finds, once it holds the lock, that the file at the name is another one
// (or none) and opens again, so two callers never both hold "the" lock.
func lockPath(path string) (unlock func(), err error) {
	unlockInProcess := lockInProcess(path)
	lp := path + ".lock"
	for range 100 { // each retry means another Listen of path took and gave up the lock meanwhile
		// Read-only and readable by all: another user's Listen in a shared
		// directory can lock it too.
		f, err := os.OpenFile(lp, os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil {
			unlockInProcess()
			return nil, fmt.Errorf("unix: listen %s: lock: %w", path, err)
		}
		if err := flock(f.Fd()); err != nil {
			f.Close()
			unlockInProcess()
			return nil, fmt.Errorf("unix: listen %s: lock %s: %w", path, lp, err)
		}
		held, serr := f.Stat()
		now, lerr := os.Lstat(lp)
		if serr == nil && lerr == nil && os.SameFile(held, now) {
			return func() {
				os.Remove(lp) // while locked: see above; may fail in another user's sticky directory, harmlessly
				f.Close()     // releases the flock
				unlockInProcess()
			}, nil
		}
		f.Close()
	}
	unlockInProcess()
	return nil, fmt.Errorf("unix: listen %s: lock %s: the lock file keeps being replaced", path, lp)
}
