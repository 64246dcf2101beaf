package linux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

var _ datapath.DeltaApplier = (*Backend)(nil)

// ApplyDelta implements datapath.DeltaApplier: a change of peers costs one netlink request
// per route, neighbour and forwarding entry it touches and one nftables transaction for
// the node-IP sets, whatever the number of peers (B8). It trusts the backend's memory of
// the previous Apply; when that memory is gone (no Apply yet, a failure since) it changes
// nothing and returns datapath.ErrFullApplyNeeded. A failure clears the memory of the part
// that failed, so the agent's next Apply repairs it from the kernel.
func (b *Backend) ApplyDelta(ctx context.Context, d *desired.Delta) (datapath.Stats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.routesKnown || b.nft == nil || b.tunnels == nil {
		return datapath.Stats{}, datapath.ErrFullApplyNeeded
	}
	for _, p := range append(d.TunnelPeers, d.RemovedTunnelPeers...) {
		if b.tunnels[desired.TunnelName(netconf.FamilyOf(p.Gateway))] == nil {
			return datapath.Stats{}, datapath.ErrFullApplyNeeded
		}
	}
	if err := ctx.Err(); err != nil {
		return datapath.Stats{}, err
	}
	var st datapath.Stats
	var errs []error
	// Forwarding and neighbour entries before the routes that use them, and removed after
	// the routes that used them.
	orphans := b.replacedMACs(d.TunnelPeers)
	if err := b.addTunnelPeers(d.TunnelPeers, &st); err != nil {
		errs = append(errs, &datapath.Error{Part: datapath.PartTunnels, Err: err})
	}
	if err := b.applyRouteDelta(d, &st); err != nil {
		errs = append(errs, &datapath.Error{Part: datapath.PartRoutes, Err: err})
	}
	if err := b.removeTunnelPeers(d, orphans, &st); err != nil {
		errs = append(errs, &datapath.Error{Part: datapath.PartTunnels, Err: err})
	}
	if err := b.applyNodeIPDelta(d.AddedNodeIPs, d.RemovedNodeIPs, &st); err != nil {
		b.nft = nil
		errs = append(errs, &datapath.Error{Part: datapath.PartSNAT, Err: err})
	}
	st.Routes = len(b.routes)
	if b.nft != nil {
		st.Rules = b.nft.rules
	}
	st.ProxyNeighbors = len(b.proxied)
	for _, t := range b.tunnels {
		st.Tunnels++
		st.TunnelPeers += len(t.neigh)
	}
	return st, errors.Join(errs...)
}

// applyRouteDelta removes, adds and replaces the routes d names.
func (b *Backend) applyRouteDelta(d *desired.Delta, st *datapath.Stats) error {
	var errs []error
	for _, r := range d.RemovedRoutes {
		o, ok := b.routes[r.Dst]
		if !ok {
			continue
		}
		if err := b.removeRoute(o); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(b.routes, r.Dst)
		st.RoutesRemoved++
	}
	for _, r := range d.Routes {
		o, ok := b.routes[r.Dst]
		switch {
		case !ok:
			if err := b.addRoute(r); err != nil {
				errs = append(errs, err)
				continue
			}
			st.RoutesAdded++
		case len(o.kernel) <= 1 && o.via == r.Via:
			// A route's device follows its gateway: a direct route's is a node IP, an
			// encapsulated one's the block's network address.
			continue
		default:
			if err := b.replaceRoute(o, r); err != nil {
				errs = append(errs, err)
				continue
			}
			st.RoutesReplaced++
		}
		b.routes[r.Dst] = ownedRoute{dst: r.Dst, via: r.Via}
	}
	if len(errs) > 0 {
		b.routesKnown = false
	}
	return errors.Join(errs...)
}

// addTunnelPeers sets the forwarding, then the neighbour entry of each peer.
func (b *Backend) addTunnelPeers(peers []desired.TunnelPeer, st *datapath.Stats) error {
	var errs []error
	for _, p := range peers {
		f := netconf.FamilyOf(p.Gateway)
		name := desired.TunnelName(f)
		s := b.tunnels[name]
		if s == nil {
			continue // failed earlier in this apply
		}
		mac := p.MAC.String()
		if have, ok := s.fdb[mac]; !ok || have != p.Remote {
			if err := b.nl.NeighSet(fdbEntry(s.index, p.MAC, p.Remote)); err != nil {
				errs = append(errs, fmt.Errorf("VXLAN device %s: forwarding entry %s -> %s: %w", name, mac, p.Remote, err))
				delete(b.tunnels, name) // read back next time
				continue
			}
			s.fdb[mac] = p.Remote
			st.TunnelChanged++
		}
		if have, ok := s.neigh[p.Gateway]; !ok || have != mac {
			if err := b.nl.NeighSet(tunnelNeigh(familyNumber(f), s.index, p.Gateway, p.MAC)); err != nil {
				errs = append(errs, fmt.Errorf("VXLAN device %s: neighbour entry %s -> %s: %w", name, p.Gateway, mac, err))
				delete(b.tunnels, name)
				continue
			}
			s.neigh[p.Gateway] = mac
			st.TunnelChanged++
		}
	}
	return errors.Join(errs...)
}

// replacedMACs returns, as peers gone, the entries that peers replaces: the same gateway
// with another MAC (the peer's node IP changed). Their forwarding entries go with the
// removed peers'.
func (b *Backend) replacedMACs(peers []desired.TunnelPeer) []desired.TunnelPeer {
	var out []desired.TunnelPeer
	for _, p := range peers {
		s := b.tunnels[desired.TunnelName(netconf.FamilyOf(p.Gateway))]
		if s == nil {
			continue
		}
		if mac, ok := s.neigh[p.Gateway]; ok && mac != p.MAC.String() {
			hw, err := net.ParseMAC(mac)
			if err == nil {
				out = append(out, desired.TunnelPeer{Gateway: p.Gateway, MAC: hw})
			}
		}
	}
	return out
}

// removeTunnelPeers deletes the neighbour entry of each peer gone, and the forwarding
// entry of each MAC gone (removed peers', and orphans, the MACs that changed peers no
// longer use) unless a peer of d uses it now (the entry moved). Desired MACs are unique
// on a device (desired.Encapsulate refuses a collision), so no other peer shares it.
func (b *Backend) removeTunnelPeers(d *desired.Delta, orphans []desired.TunnelPeer, st *datapath.Stats) error {
	var errs []error
	for _, p := range slices.Concat(d.RemovedTunnelPeers, orphans) {
		f := netconf.FamilyOf(p.Gateway)
		name := desired.TunnelName(f)
		s := b.tunnels[name]
		if s == nil {
			continue
		}
		if mac, ok := s.neigh[p.Gateway]; ok && mac == p.MAC.String() {
			if err := b.nl.NeighDel(tunnelNeigh(familyNumber(f), s.index, p.Gateway, p.MAC)); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("VXLAN device %s: deleting neighbour entry %s: %w", name, p.Gateway, err))
				delete(b.tunnels, name)
				continue
			}
			delete(s.neigh, p.Gateway)
			st.TunnelChanged++
		}
		mac := p.MAC.String()
		stillUsed := false
		for _, q := range d.TunnelPeers {
			if q.MAC.String() == mac && netconf.FamilyOf(q.Gateway) == f {
				stillUsed = true
			}
		}
		remote, ok := s.fdb[mac]
		if stillUsed || !ok {
			continue
		}
		if err := b.nl.NeighDel(fdbEntry(s.index, p.MAC, remote)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("VXLAN device %s: deleting forwarding entry %s: %w", name, mac, err))
			delete(b.tunnels, name)
			continue
		}
		delete(s.fdb, mac)
		st.TunnelChanged++
	}
	return errors.Join(errs...)
}

// applyNodeIPDelta adds and removes node-IP set elements in one transaction. Addresses of
// a family whose set the table does not have are left out, as a whole apply leaves them.
// The backend's record of each set stays sorted for the whole apply's merge diff: an
// element is found by binary search and moved in with one memmove of the slice, some
// microseconds at 65,536 nodes.
func (b *Backend) applyNodeIPDelta(added, removed []netip.Addr, st *datapath.Stats) error {
	type change struct{ add, del []netip.Addr }
	changes := map[v1alpha1.IPFamily]*change{}
	for _, list := range []struct {
		addrs []netip.Addr
		add   bool
	}{{added, true}, {removed, false}} {
		for _, a := range list.addrs {
			f := netconf.FamilyOf(a)
			have, ok := b.nft.nodeIPs[setName(f)]
			if !ok {
				continue
			}
			if _, in := slices.BinarySearchFunc(have, a, netip.Addr.Compare); in == list.add {
				continue
			}
			c := changes[f]
			if c == nil {
				c = &change{}
				changes[f] = c
			}
			if list.add {
				c.add = append(c.add, a)
			} else {
				c.del = append(c.del, a)
			}
		}
	}
	if len(changes) == 0 {
		return nil
	}
	c, err := b.conn()
	if err != nil {
		return err
	}
	for f, ch := range changes {
		set := nodeIPSet(b.tableRef(), f)
		if err := addElements(c, set, ch.add); err != nil {
			return err
		}
		if len(ch.del) > 0 {
			if err := c.SetDeleteElements(set, elements(ch.del)); err != nil {
				return fmt.Errorf("deleting from set %s: %w", set.Name, err)
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("updating the node-IP sets of table inet %s: %w", b.table, err)
	}
	for f, ch := range changes {
		name := setName(f)
		have := b.nft.nodeIPs[name]
		for _, a := range ch.add {
			if i, in := slices.BinarySearchFunc(have, a, netip.Addr.Compare); !in {
				have = slices.Insert(have, i, a)
			}
		}
		for _, a := range ch.del {
			if i, in := slices.BinarySearchFunc(have, a, netip.Addr.Compare); in {
				have = slices.Delete(have, i, i+1)
			}
		}
		b.nft.nodeIPs[name] = have
		st.NodeIPsChanged += len(ch.add) + len(ch.del)
	}
	return nil
}

// familyNumber is the netlink address family of f.
func familyNumber(f v1alpha1.IPFamily) int {
	if f == v1alpha1.IPv6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}
