package linux

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
)

// InNetNS runs fn on an OS thread that has joined the network namespace ns, and returns
// its error. Network sockets and /proc/sys/net opened by fn belong to ns, and processes fn
// starts are born in it; the sockets stay in ns when used from other goroutines later.
//
// The calling goroutine is untouched: fn runs on a fresh goroutine locked to its thread,
// and if the thread cannot return to its original namespace it is left locked, so that
// the Go runtime discards it instead of reusing a thread in the wrong namespace.
func InNetNS(ns netns.NsHandle, fn func() error) error { return inNetNS(ns, fn) }

func inNetNS(ns netns.NsHandle, fn func() error) error {
	// Entering a namespace needs CAP_SYS_ADMIN even when it is the caller's own. The
	// agent runs in the host namespace with NET_ADMIN only, so it must not try.
	if isCurrent(ns) {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("getting the thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering the network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- fmt.Errorf("returning to the original network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// ensureSysctl sets /proc/sys/<key> to value unless it holds it already. It must run
// inside the target namespace: /proc/sys/net follows the opening thread's namespace.
func ensureSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", key)
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if string(bytes.TrimSpace(cur)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting %s to %s: %w", path, value, err)
	}
	return nil
}

// isCurrent reports whether ns is the network namespace of the calling process.
func isCurrent(ns netns.NsHandle) bool {
	self, err := netns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		return false
	}
	defer self.Close()
	return self.Equal(ns)
}
