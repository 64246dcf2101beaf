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
}

// syncRoutes makes the owned routes of the main table match want. Incrementally it diffs
// want against what the previous apply left; in full it diffs against the kernel. Both are
// sorted by destination, so the diff is one merge walk. A change of peers alone does not
// come here: ApplyDelta (delta.go) applies it route by route.
//
// It adds with NLM_F_EXCL, so a route someone else owns to the same destination is reported,
// never overwritten, and it deletes with its protocol set, so the kernel refuses to delete a
// route it does not own.
func (b *Backend) syncRoutes(ctx context.Context, want []desired.Route, full bool, st *datapath.Stats) error {
	want = sortedRoutes(want)
	var have []ownedRoute
	if full {
		var err error
		if have, err = b.readRoutes(); err != nil {
			b.routesKnown = false
			return fmt.Errorf("listing owned routes: %w", err)
		}
	} else {
		have = make([]ownedRoute, 0, len(b.routes))
		for _, o := range b.routes {
			have = append(have, o)
		}
		slices.SortFunc(have, func(a, b ownedRoute) int { return desired.ComparePrefix(a.dst, b.dst) })
	}
	applied := make(map[netip.Prefix]ownedRoute, len(want))
	keep := func(o ownedRoute) { applied[o.dst] = ownedRoute{dst: o.dst, via: o.via} }
	var errs []error
	fail := func(err error) { errs = append(errs, err) }
	i, j := 0, 0
	for n := 0; i < len(want) || j < len(have); n++ {
		if n%256 == 0 && ctx.Err() != nil {
			fail(ctx.Err())
			for _, o := range have[j:] { // left as they were
				applied[o.dst] = o
			}
			break
		}
		var c int
		switch {
		case i == len(want):
			c = 1
		case j == len(have):
			c = -1
		default:
			c = desired.ComparePrefix(want[i].Dst, have[j].dst)
		}
		switch {
		case c < 0: // wanted, missing
			if err := b.addRoute(want[i]); err != nil {
				fail(err)
			} else {
				st.RoutesAdded++
				keep(ownedRoute{dst: want[i].Dst, via: want[i].Via})
			}
			i++
		case c > 0: // owned, no longer wanted
			if err := b.removeRoute(have[j]); err != nil {
				fail(err)
				keep(have[j])
			} else {
				st.RoutesRemoved++
			}
			j++
		default:
			r, o := want[i], have[j]
			i, j = i+1, j+1
			if len(o.kernel) <= 1 && o.via == r.Via {
				keep(o)
				continue
			}
			if err := b.replaceRoute(o, r); err != nil {
				fail(err)
				if len(o.kernel) <= 1 {
					keep(o)
				}
				continue
			}
			st.RoutesReplaced++
			keep(ownedRoute{dst: r.Dst, via: r.Via})
		}
	}
	b.routes = applied
	b.routesKnown = len(errs) == 0
	st.Routes = len(applied)
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

// sortedRoutes returns routes sorted by destination with one route per destination,
// copying only when the input is not already so.
func sortedRoutes(rs []desired.Route) []desired.Route {
	ok := true
	for i := 1; i < len(rs); i++ {
		if desired.ComparePrefix(rs[i-1].Dst, rs[i].Dst) >= 0 {
			ok = false
			break
		}
	}
	if ok {
		return rs
	}
	out := slices.Clone(rs)
	slices.SortStableFunc(out, func(a, b desired.Route) int { return desired.ComparePrefix(a.Dst, b.Dst) })
	return slices.CompactFunc(out, func(a, b desired.Route) bool { return a.Dst == b.Dst })
}

// readRoutes returns the owned routes of the kernel, sorted by destination.
func (b *Backend) readRoutes() ([]ownedRoute, error) {
	byDst, err := b.listRoutes()
	if err != nil {
		return nil, err
	}
	out := make([]ownedRoute, 0, len(byDst))
	for dst, rs := range byDst {
		out = append(out, ownedRoute{dst: dst, via: gatewayOf(&rs[0]), kernel: rs})
	}
	slices.SortFunc(out, func(a, b ownedRoute) int { return desired.ComparePrefix(a.dst, b.dst) })
	return out, nil
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
