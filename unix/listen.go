package unix

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/cspstream/streams/chanstream"
)

// ListenOption configures Listen.
type ListenOption func(*listenConfig)

type listenConfig struct {
	cleanup bool
	mode    os.FileMode
	modeSet bool
}

// WithCleanupSocket sets whether closing the listener removes its socket
// file (default true). The file is removed only if it is still the one the
// listener made: a socket file another listener has put at the path since
// is left alone. Abstract sockets have no file.
func WithCleanupSocket(on bool) ListenOption { return func(c *listenConfig) { c.cleanup = on } }

// WithMode sets the socket file's permission bits, for example 0o600 to
// let only the owner connect. The bits are exact (the umask does not
// apply), and the file never has more of them than m, not even for a
// moment after bind: on Linux the socket is given the mode before bind
// (fchmod), then chmod adds the bits the umask took away; elsewhere the
// socket is bound in a private (0700) directory made next to path,
// chmodded there and then hard-linked into place, so it is reachable at
// path only with its final mode — there the listener's accepted
// connections report that first name as their local address. Abstract
// sockets have no file and ignore it.
func WithMode(m os.FileMode) ListenOption {
	return func(c *listenConfig) { c.mode, c.modeSet = m.Perm(), true }
}

// probeTimeout bounds the connect that tells a live listener from a stale
// socket file.
const probeTimeout = time.Second

// testHookBound, when set by a test, runs right after bind, before
// Listen has done anything to the file.
var testHookBound func(path string)

// testHookStale, when set by a test, runs when Listen has found the file
// at path stale, before it removes it.
var testHookStale func(path string)

// Listen listens on the Unix-domain socket path and returns the listener,
// an embedded *net.UnixListener. A stale socket file at path is replaced;
// a live listener there is an error wrapping syscall.EADDRINUSE; any other
// kind of file is an error wrapping fs.ErrExist and is left untouched. A
// path starting with "@" is in Linux's abstract namespace: no file is made
// and [WithMode] and [WithCleanupSocket] do not apply. On other systems
// such a path is an error wrapping [chanstream.ErrInvalidArgument] (a file
// named "@…" would be a surprise nobody cleans up).
//
// Concurrent Listens of one path — in this process, and in others where
// flock(2) exists — check, replace and bind one at a time, so exactly one
// of them wins a stale path and the others get EADDRINUSE: each holds an
// exclusive flock on path+".lock" meanwhile, a file it makes and removes
// (the directory must let it).
func Listen(path string, opts ...ListenOption) (net.Listener, error) {
	c := listenConfig{cleanup: true}
	for _, o := range opts {
		o(&c)
	}
	if path == "" {
		return nil, fmt.Errorf("unix: listen: %w: empty path", chanstream.ErrInvalidArgument)
	}
	abstract := path[0] == '@'
	if abstract && !abstractNames {
		return nil, fmt.Errorf("unix: listen %s: %w: abstract socket names (\"@\") exist only on Linux", path, chanstream.ErrInvalidArgument)
	}
	if abstract {
		ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("unix: %w", err)
		}
		return ul, nil
	}
	// Check, remove and bind as one step for every Listen of path: two
	// callers that both found the file stale would otherwise both bind,
	// the second after removing the first one's new socket.
	unlock, err := lockPath(path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ul, err := bindFile(path, &c)
	if err != nil {
		return nil, err
	}
	l := &listener{UnixListener: ul, path: path}
	if c.cleanup {
		if l.made, err = os.Lstat(path); err != nil {
			ul.Close()
			os.Remove(path) // bound a moment ago: ours, and nobody else would remove it
			return nil, fmt.Errorf("unix: listen %s: %w", path, err)
		}
	}
	return l, nil
}

// removeStale clears path for a new socket: nothing there is fine, a
// socket file nobody listens on is removed, anything else is an error.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unix: listen %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("unix: listen %s: %w: %v, not a socket", path, fs.ErrExist, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, probeTimeout)
	switch {
	case err == nil:
		c.Close()
		return fmt.Errorf("unix: listen %s: a listener answers there: %w", path, syscall.EADDRINUSE)
	case errors.Is(err, syscall.ECONNREFUSED):
		if testHookStale != nil {
			testHookStale(path)
		}
		// Remove the file probed, not one that a process outside the lock
		// (another program) put there since.
		now, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile: the path is free
		}
		if err != nil || !os.SameFile(fi, now) {
			return fmt.Errorf("unix: listen %s: the socket file was replaced while probed: %w", path, syscall.EADDRINUSE)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unix: listen %s: remove stale socket: %w", path, err)
		}
		return nil
	case errors.Is(err, syscall.EAGAIN) || os.IsTimeout(err):
		// A listener with a full backlog: alive.
		return fmt.Errorf("unix: listen %s: a busy listener is there: %w", path, syscall.EADDRINUSE)
	default:
		return fmt.Errorf("unix: listen %s: probe: %w", path, err)
	}
}

// listener removes its socket file on Close, if it is still its own, and
// reports path as its address whatever name it was bound under.
type listener struct {
	*net.UnixListener
	path      string
	made      os.FileInfo // the file as bound; nil without cleanup
	closeOnce sync.Once
}

// Close closes the listener and, with WithCleanupSocket, removes the
// socket file unless it was replaced (another inode is at the path).
func (l *listener) Close() error {
	err := l.UnixListener.Close()
	l.closeOnce.Do(func() {
		if l.made == nil {
			return
		}
		if now, serr := os.Lstat(l.path); serr == nil && os.SameFile(l.made, now) {
			os.Remove(l.path)
		}
	})
	return err
}

// Addr returns path as a *net.UnixAddr.
func (l *listener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }
