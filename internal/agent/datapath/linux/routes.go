package linux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// ownedRoute is one destination the backend owns: its gateway, and the kernel's routes to
// it when they were read back (nil when known from memory).
type ownedRoute struct {
	dst    netip.Prefix
	via    netip.Addr
	kernel []netlink.Route
	// gen is the sync that last kept it (syncRoutes).
	gen uint64
}

// syncRoutes makes the owned routes of the main table match want. Incrementally it diffs
// want against what the previous apply left; in full it diffs against the kernel. The diff
// is one look-up per wanted route and one pass over the owned ones, without sorting or
// allocating. A change of peers alone does not come here: ApplyDelta (delta.go) applies it
// route by route.
//
// It adds with NLM_F_EXCL, so a route someone else owns to the same destination is reported,
// never overwritten, and it deletes with its protocol set, so the kernel refuses to delete a
// route it does not own.
func (b *Backend) syncRoutes(ctx context.Context, want []desired.Route, full bool, st *datapath.Stats) error {
	if full || b.routes == nil {
		owned, err := b.listRoutes()
		if err != nil {
			b.routesKnown = false
			return fmt.Errorf("listing owned routes: %w", err)
		}
		b.routes = make(map[netip.Prefix]ownedRoute, len(owned))
		for dst, rs := range owned {
			b.routes[dst] = ownedRoute{dst: dst, via: gatewayOf(&rs[0]), kernel: rs}
		}
	}
	// gen marks the owned routes that want keeps; the others go.
	b.gen++
	gen := b.gen
	var errs []error
	fail := func(err error) { errs = append(errs, err) }
	for n, r := range want {
		if n%256 == 0 && ctx.Err() != nil {
			// What was not looked at stays as it is; the kernel is read back next time.
			b.routesKnown = false
			return errors.Join(append(errs, ctx.Err())...)
		}
		o, ok := b.routes[r.Dst]
		switch {
		case ok && o.gen == gen:
			// A second route to one destination: the first is kept.
		case !ok: // wanted, missing
			if err := b.addRoute(r); err != nil {
				fail(err)
				continue
			}
			st.RoutesAdded++
			b.routes[r.Dst] = ownedRoute{dst: r.Dst, via: r.Via, gen: gen}
		case len(o.kernel) <= 1 && o.via == r.Via:
			b.routes[r.Dst] = ownedRoute{dst: r.Dst, via: r.Via, gen: gen}
		default:
			if err := b.replaceRoute(o, r); err != nil {
				fail(err)
				if len(o.kernel) <= 1 {
					o.gen = gen // left as it was
					b.routes[r.Dst] = o
				} else {
					delete(b.routes, r.Dst)
				}
				continue
			}
			st.RoutesReplaced++
			b.routes[r.Dst] = ownedRoute{dst: r.Dst, via: r.Via, gen: gen}
		}
	}
	for dst, o := range b.routes {
		if o.gen == gen {
			continue
		}
		if err := b.removeRoute(o); err != nil {
			fail(err)
			continue
		}
		delete(b.routes, dst)
		st.RoutesRemoved++
	}
	b.routesKnown = len(errs) == 0
	st.Routes = len(b.routes)
	return errors.Join(errs...)
}

// addRoute adds r, refusing to overwrite a route someone else owns.
func (b *Backend) addRoute(r desired.Route) error {
	kr, err := b.wantedRoute(r)
	if err == nil {
		err = b.nl.RouteAdd(kr)
	}
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			err = fmt.Errorf("a route to %s that overlaynet does not own exists; leaving it alone", r.Dst)
		}
		return fmt.Errorf("adding route to %s via %s (node %s): %w", r.Dst, r.Via, r.Node, err)
	}
	return nil
}

// removeRoute deletes the owned route o, every copy of it the kernel holds.
func (b *Backend) removeRoute(o ownedRoute) error {
	rs := o.kernel
	if rs == nil {
		rs = []netlink.Route{*b.kernelRoute(o.dst, o.via)}
	}
	var errs []error
	for i := range rs {
		if err := b.nl.RouteDel(&rs[i]); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("deleting route to %s: %w", o.dst, err))
		}
	}
	return errors.Join(errs...)
}

// replaceRoute moves the owned route o to r's gateway or device atomically; a destination
// the kernel holds several routes to (several metrics) starts over with one.
func (b *Backend) replaceRoute(o ownedRoute, r desired.Route) error {
	if len(o.kernel) > 1 {
		if err := b.removeRoute(o); err != nil {
			return err
		}
		return b.addRoute(r)
	}
	kr, err := b.wantedRoute(r)
	if err == nil {
		err = b.nl.RouteReplace(kr)
	}
	if errors.Is(err, unix.EINVAL) && kr.Family == unix.AF_INET6 {
		// IPv6 refuses to replace a route with one on another device (a peer moving onto
		// or off a VXLAN device): delete, then add.
		if err = b.nl.RouteDel(b.kernelRoute(o.dst, o.via)); err == nil || errors.Is(err, unix.ESRCH) {
			err = b.nl.RouteAdd(kr)
		}
	}
	if err != nil {
		return fmt.Errorf("replacing route to %s via %s (node %s): %w", r.Dst, r.Via, r.Node, err)
	}
	return nil
}

// listRoutes returns the owned routes of the main table, both families, by destination.
func (b *Backend) listRoutes() (map[netip.Prefix][]netlink.Route, error) {
	filter := &netlink.Route{Protocol: b.proto, Table: unix.RT_TABLE_MAIN}
	mask := netlink.RT_FILTER_PROTOCOL | netlink.RT_FILTER_TABLE
	var out map[netip.Prefix][]netlink.Route
	err := retryDump(func() error {
		out = map[netip.Prefix][]netlink.Route{}
		return b.nl.RouteListFilteredIter(netlink.FAMILY_ALL, filter, mask, func(r netlink.Route) bool {
			dst := prefixOf(r.Dst, r.Family)
			out[dst] = append(out[dst], r)
			return true
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OwnedRoutes returns the routes the backend owns in the kernel, sorted by destination.
func (b *Backend) OwnedRoutes() ([]desired.Route, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	owned, err := b.listRoutes()
	if err != nil {
		return nil, err
	}
	var out []desired.Route
	for dst, rs := range owned {
		for i := range rs {
			out = append(out, desired.Route{Dst: dst, Via: gatewayOf(&rs[i])})
		}
	}
	slices.SortFunc(out, func(a, b desired.Route) int { return desired.ComparePrefix(a.Dst, b.Dst) })
	return out, nil
}

// kernelRoute is an owned route of the main table: dst via the peer's node IP, on whatever
// link reaches it (the node network).
func (b *Backend) kernelRoute(dst netip.Prefix, via netip.Addr) *netlink.Route {
	family := unix.AF_INET
	if dst.Addr().Is6() {
		family = unix.AF_INET6
	}
	return &netlink.Route{
		Family:   family,
		Dst:      &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())},
		Gw:       via.AsSlice(),
		Protocol: b.proto,
		Table:    unix.RT_TABLE_MAIN,
	}
}

// wantedRoute is the kernel route of r: kernelRoute, or for a route through a VXLAN
// device, on that device with its gateway on link (encap.go).
func (b *Backend) wantedRoute(r desired.Route) (*netlink.Route, error) {
	kr := b.kernelRoute(r.Dst, r.Via)
	if r.Dev == "" {
		return kr, nil
	}
	index, ok := b.tunnelIndex(r.Dev)
	if !ok {
		return nil, fmt.Errorf("VXLAN device %s is not in place", r.Dev)
	}
	kr.LinkIndex = index
	kr.Flags |= int(netlink.FLAG_ONLINK)
	return kr, nil
}

func prefixOf(n *net.IPNet, family int) netip.Prefix {
	if n == nil {
		if family == unix.AF_INET6 {
			return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	a, _ := netip.AddrFromSlice(n.IP)
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits)
}

func gatewayOf(r *netlink.Route) netip.Addr {
	a, _ := netip.AddrFromSlice(r.Gw)
	return a.Unmap()
}
