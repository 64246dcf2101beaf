// Package topology builds a simulated node network out of Linux network namespaces for
// the end-to-end test and the demo: a "VNet" bridge in a namespace of its own, node
// namespaces and an external host attached to it by veth pairs, and pods started through
// CNI exactly as a container runtime starts them.
//
// Every namespace is anonymous: it is held by a file descriptor of this process, never
// bind-mounted under /run/netns, so it shows in no `ip netns list` and disappears with its
// last descriptor and socket, even when the process is killed. Nothing here changes the
// host's namespace, and no packet can leave the topology: the bridge has no uplink.
package topology

import (
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
)

// NewNetNS creates an anonymous network namespace with its loopback up and IPv6
// duplicate address detection off (addresses are usable at once; every address in the
// topology is unique by construction). Closing the handle, and every socket opened in it,
// destroys it.
func NewNetNS() (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	rc := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			rc <- result{err: fmt.Errorf("getting the thread's network namespace: %w", err)}
			return
		}
		defer orig.Close()
		h, err := netns.New() // unshare(CLONE_NEWNET) of this thread only
		if err != nil {
			runtime.UnlockOSThread()
			rc <- result{err: fmt.Errorf("creating a network namespace: %w", err)}
			return
		}
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and dies with this goroutine.
			_ = h.Close()
			rc <- result{err: fmt.Errorf("returning to the original network namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		rc <- result{h: h}
	}()
	r := <-rc
	if r.err != nil {
		return netns.None(), r.err
	}
	if err := linux.InNetNS(r.h, prepareNetNS); err != nil {
		_ = r.h.Close()
		return netns.None(), err
	}
	return r.h, nil
}

func prepareNetNS() error {
	for _, key := range []string{"net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad"} {
		if err := os.WriteFile("/proc/sys/"+key, []byte("0"), 0o644); err != nil {
			return fmt.Errorf("setting %s: %w", key, err)
		}
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("finding lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("setting lo up: %w", err)
	}
	return nil
}

// NsPath is a path naming the namespace for other processes (CNI plugins, nsenter) as
// long as this process holds the handle.
func NsPath(h netns.NsHandle) string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(h)) }
