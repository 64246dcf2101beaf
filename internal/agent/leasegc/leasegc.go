// Package leasegc reclaims host-local reservations that no pod holds any more, so that a
// sandbox that failed half-way leaks no address.
//
// How it happens: the runtime calls ptp (whose IPAM, host-local, writes one lease file per
// address) and then the rest of the chain; when a later step fails, the runtime calls DEL,
// and libcni stops a DEL at the first plugin that fails, so host-local may never release.
// Real nodes lost 17 of 110 addresses in 100 s that way (issue 13). The runtime then drops
// the sandbox and its network namespace, which takes the pod's veth with it.
//
// How the agent knows a reservation is dead without asking the runtime (its socket is root
// on the node, far more than the agent should hold): ptp routes every pod address it hands
// out to the pod's veth, a host route (/32, /128) in the node's main table that lives exactly
// as long as the pod's network namespace. A lease whose address has no such route, and which
// is older than a grace period (host-local writes the lease before ptp creates the veth),
// belongs to no pod. The removal happens under host-local's own lock, and only when the lease
// file still names the same container and has not been rewritten since it was judged.
package leasegc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Defaults of Reclaimer.
const (
	// DefaultGrace is how old a lease without a pod route must be before it is reclaimed:
	// far longer than ptp needs between the reservation and the route.
	DefaultGrace = 2 * time.Minute
	// DefaultPeriod is the interval between passes.
	DefaultPeriod = time.Minute
)

// lockFile is host-local's lock in the network's directory (an flock(2) on it guards every
// allocation and release).
const lockFile = "lock"

// Lease is one host-local reservation: the file named by the address holds the container
// ID and the interface name, separated by "\r\n".
type Lease struct {
	Addr        netip.Addr
	ContainerID string
	IfName      string
	ModTime     time.Time
	content     []byte
}

func (l Lease) String() string {
	return fmt.Sprintf("%s (container %s, %s)", l.Addr, l.ContainerID, l.IfName)
}

// Read returns the leases of a host-local network directory. A missing directory holds
// none. Files that are not named by an address (the lock, last_reserved_ip.N) and entries
// that are not regular files are skipped.
func Read(dir string) ([]Lease, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading host-local's leases in %s: %w", dir, err)
	}
	var out []Lease
	for _, e := range entries {
		addr, err := netip.ParseAddr(e.Name())
		if err != nil || !e.Type().IsRegular() {
			continue
		}
		l, err := readLease(filepath.Join(dir, e.Name()), addr)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func readLease(path string, addr netip.Addr) (Lease, error) {
	f, err := os.Open(path)
	if err != nil {
		return Lease{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Lease{}, err
	}
	// A lease is a container ID and an interface name; anything larger is not one of
	// host-local's and is left alone (and not read whole).
	buf := make([]byte, 512)
	n, err := f.Read(buf)
	if err != nil && n == 0 && fi.Size() > 0 {
		return Lease{}, err
	}
	if int64(n) != fi.Size() || !fi.Mode().IsRegular() {
		return Lease{}, fmt.Errorf("%s is not a host-local lease", path)
	}
	content := buf[:n]
	id, ifname, _ := strings.Cut(string(content), "\r\n")
	return Lease{Addr: addr.Unmap(), ContainerID: strings.TrimSpace(id), IfName: strings.TrimSpace(ifname), ModTime: fi.ModTime(), content: bytes.Clone(content)}, nil
}

// Stale returns the leases that are older than grace at now and whose address has no pod
// route in live.
func Stale(leases []Lease, live map[netip.Addr]bool, now time.Time, grace time.Duration) []Lease {
	var out []Lease
	for _, l := range leases {
		if !live[l.Addr] && now.Sub(l.ModTime) >= grace {
			out = append(out, l)
		}
	}
	return out
}

// PodRoutes returns the addresses that have a host route (/32 or /128, no gateway) through
// a link in the main table of h's network namespace: ptp's route to each running pod.
func PodRoutes(h *netlink.Handle) (map[netip.Addr]bool, error) {
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("listing the node's routes: %w", err)
	}
	live := make(map[netip.Addr]bool)
	for _, r := range routes {
		if r.Dst == nil || r.LinkIndex <= 0 || r.Gw != nil {
			continue
		}
		ones, bits := r.Dst.Mask.Size()
		if ones != bits {
			continue
		}
		if a, ok := netip.AddrFromSlice(r.Dst.IP); ok {
			live[a.Unmap()] = true
		}
	}
	return live, nil
}

// Reclaimer removes the stale leases of one host-local network directory.
type Reclaimer struct {
	// Dir is the network's directory: <dataDir>/<network name>.
	Dir string
	// Grace is the minimum age of a lease without a pod route; DefaultGrace when zero.
	Grace time.Duration
	// Live returns the addresses that have a pod route now.
	Live func() (map[netip.Addr]bool, error)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Run makes one pass and returns the leases it removed.
func (r *Reclaimer) Run() ([]Lease, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	grace := r.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	leases, err := Read(r.Dir)
	if err != nil || len(leases) == 0 {
		return nil, err
	}
	live, err := r.Live()
	if err != nil {
		return nil, err
	}
	candidates := Stale(leases, live, now(), grace)
	if len(candidates) == 0 {
		return nil, nil
	}

	unlock, err := lock(r.Dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Judge again under the lock: a route may have appeared since the first look.
	if live, err = r.Live(); err != nil {
		return nil, err
	}
	var removed []Lease
	var errs []error
	for _, c := range candidates {
		path := filepath.Join(r.Dir, c.Addr.String())
		cur, err := readLease(path, c.Addr)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if live[c.Addr] || !cur.ModTime.Equal(c.ModTime) || !bytes.Equal(cur.content, c.content) {
			continue // reused or back in use
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("releasing %s: %w", c, err))
			continue
		}
		removed = append(removed, c)
	}
	return removed, errors.Join(errs...)
}

// lock takes host-local's lock of dir, as host-local itself does (flock on dir/lock).
func lock(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening host-local's lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("taking host-local's lock: %w", err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		_ = f.Close()
	}, nil
}
