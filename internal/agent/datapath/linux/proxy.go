package linux

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// Proxy neighbour entries (`ip neigh show proxy`) make the node answer ARP on its uplink for
// pod addresses of the node subnet (R40): the kernel replies with the uplink's MAC address
// to a request for such an address when it routes the address out of another interface
// (the pod's veth) and forwarding is on.
//
// Proxy entries carry no protocol or owner mark that netlink lets the backend set, so
// ownership is by place: the backend owns every IPv4 proxy entry of the uplink (the
// interface that holds the node's IPv4 address) inside the uplink's connected subnet (that
// address's prefix), and nothing else. Inside it, it adds the wanted entries and deletes the
// others; entries on other interfaces or outside the subnet are never touched. When the node
// address moves to another interface or changes its prefix, the entries owned at the old
// place are deleted.

// uplink is where the backend answers for pod addresses: an interface and the subnet of
// the node address on it.
type uplink struct {
	// index is the interface index.
	index int
	// name is the interface name, for messages.
	name string
	// subnet is the connected subnet of the node address, masked.
	subnet netip.Prefix
}

// same reports whether u and o are the same place; a renamed interface is the same.
func (u *uplink) same(o *uplink) bool {
	return u != nil && o != nil && u.index == o.index && u.subnet == o.subnet
}

func (u *uplink) String() string { return fmt.Sprintf("%s (subnet %s)", u.name, u.subnet) }

// syncProxy makes the owned proxy entries match p: the addresses of p.Addrs inside the
// uplink's subnet (the others cannot be answered for on that link and are skipped).
// Incrementally it diffs against what the previous apply left; in full, or when the
// previous apply failed or the uplink moved, it reads the kernel back.
func (b *Backend) syncProxy(p desired.ProxyNeighbors, full bool, st *datapath.Stats) error {
	full = full || !b.proxyKnown
	b.proxyKnown = false

	var target *uplink
	node := p.Uplink.Unmap()
	switch {
	case node.Is4():
		var err error
		if target, err = b.findUplink(node); err != nil {
			return err
		}
		if target == nil && len(p.Addrs) > 0 {
			return fmt.Errorf("no interface holds the node address %s; cannot answer for %d pod addresses", node, len(p.Addrs))
		}
	case len(p.Addrs) > 0 && node.IsValid():
		return fmt.Errorf("the node address %s is not IPv4; cannot answer for %d pod addresses", node, len(p.Addrs))
	case len(p.Addrs) > 0:
		return fmt.Errorf("the node has no IPv4 address to find its uplink by; cannot answer for %d pod addresses", len(p.Addrs))
	}

	// Entries owned at a place that is no longer the uplink are released first.
	if old := b.uplink; old != nil && !old.same(target) {
		n, err := b.releaseProxies(old, target)
		st.ProxyChanged += n
		if err != nil {
			return err
		}
		b.uplink, b.proxied = nil, nil
		full = true
	}
	if target == nil {
		b.proxyKnown = true
		return nil
	}

	want := addrsIn(p.Addrs, target.subnet)
	have := b.proxied
	b.uplink = target
	if full {
		var err error
		if have, err = b.readProxies(target); err != nil {
			return fmt.Errorf("listing the proxy neighbour entries of %s: %w", target, err)
		}
	}

	add, del := diffAddrs(want, have)
	var (
		errs []error
		// failed are the entries that should have come and did not; kept, those that
		// should have gone and did not.
		failed, kept []netip.Addr
	)
	for _, a := range add {
		if err := b.nl.NeighAdd(proxyNeigh(target.index, a)); err != nil {
			errs = append(errs, fmt.Errorf("adding proxy neighbour entry %s on %s: %w", a, target.name, err))
			failed = append(failed, a)
			continue
		}
		st.ProxyChanged++
	}
	for _, a := range del {
		if err := b.delProxy(target.index, a); err != nil {
			errs = append(errs, fmt.Errorf("deleting proxy neighbour entry %s on %s: %w", a, target.name, err))
			kept = append(kept, a)
			continue
		}
		st.ProxyChanged++
	}
	applied := slices.Clone(want)
	if len(failed)+len(kept) > 0 {
		applied = slices.DeleteFunc(applied, func(a netip.Addr) bool { return slices.Contains(failed, a) })
		applied = sortedAddrs(append(applied, kept...))
	}
	b.proxied = applied
	b.proxyKnown = len(errs) == 0
	st.ProxyNeighbors = len(applied)
	return errors.Join(errs...)
}

// findUplink returns the interface holding the IPv4 address node and node's subnet on it,
// or nil when no interface holds it.
func (b *Backend) findUplink(node netip.Addr) (*uplink, error) {
	addrs, err := b.nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing IPv4 addresses to find the interface of the node address %s: %w", node, err)
	}
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Unmap() != node {
			continue
		}
		bits, _ := a.Mask.Size()
		u := &uplink{index: a.LinkIndex, subnet: netip.PrefixFrom(node, bits).Masked()}
		if l, err := b.nl.LinkByIndex(a.LinkIndex); err == nil {
			u.name = l.Attrs().Name
		} else {
			u.name = fmt.Sprintf("interface %d", a.LinkIndex)
		}
		return u, nil
	}
	return nil, nil
}

// readProxies returns the owned entries in the kernel at u, sorted.
func (b *Backend) readProxies(u *uplink) ([]netip.Addr, error) {
	var ns []netlink.Neigh
	err := retryDump(func() (err error) {
		ns, err = b.nl.NeighProxyList(u.index, netlink.FAMILY_V4)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(ns))
	for _, n := range ns {
		a, ok := netip.AddrFromSlice(n.IP)
		if a = a.Unmap(); ok && n.LinkIndex == u.index && u.subnet.Contains(a) {
			out = append(out, a)
		}
	}
	return sortedAddrs(out), nil
}

// releaseProxies deletes the entries owned at old, except those that the new uplink owns
// (same interface, inside its subnet), which the caller reconciles. It returns how many it
// deleted.
func (b *Backend) releaseProxies(old, keep *uplink) (int, error) {
	have, err := b.readProxies(old)
	if err != nil {
		return 0, fmt.Errorf("listing the proxy neighbour entries of the former uplink %s: %w", old, err)
	}
	n := 0
	var errs []error
	for _, a := range have {
		if keep != nil && keep.index == old.index && keep.subnet.Contains(a) {
			continue
		}
		if err := b.delProxy(old.index, a); err != nil {
			errs = append(errs, fmt.Errorf("deleting proxy neighbour entry %s on the former uplink %s: %w", a, old.name, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// teardownProxies deletes the entries owned at the last known uplink.
func (b *Backend) teardownProxies() error {
	u := b.uplink
	b.uplink, b.proxied, b.proxyKnown = nil, nil, false
	if u == nil {
		return nil
	}
	if _, err := b.releaseProxies(u, nil); err != nil {
		b.uplink = u // so that a second Teardown retries
		return err
	}
	return nil
}

// delProxy deletes one proxy entry; one that is already gone is not an error.
func (b *Backend) delProxy(index int, a netip.Addr) error {
	if err := b.nl.NeighDel(proxyNeigh(index, a)); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// proxyNeigh is the proxy entry of a on interface index: `ip neigh add proxy a dev <index>`.
func proxyNeigh(index int, a netip.Addr) *netlink.Neigh {
	return &netlink.Neigh{LinkIndex: index, Family: netlink.FAMILY_V4, Flags: netlink.NTF_PROXY, IP: a.AsSlice()}
}

// addrsIn returns the IPv4 addresses of as inside subnet, sorted without duplicates.
func addrsIn(as []netip.Addr, subnet netip.Prefix) []netip.Addr {
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if a = a.Unmap(); a.Is4() && subnet.Contains(a) {
			out = append(out, a)
		}
	}
	return sortedAddrs(out)
}

// OwnedProxyNeighbors returns the proxy neighbour entries the backend owns in the kernel,
// those at the uplink of the last Apply, sorted; none when no Apply found an uplink.
func (b *Backend) OwnedProxyNeighbors() ([]netip.Addr, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.uplink == nil {
		return nil, nil
	}
	return b.readProxies(b.uplink)
}
