package linux_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/vishvananda/netns"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// deltaOf is the desired.Delta that takes prev to next: what desired.PeerIndex says.
func deltaOf(prev, next *desired.Datapath) *desired.Delta {
	d := &desired.Delta{}
	routes := map[netip.Prefix]desired.Route{}
	for _, r := range prev.Routes {
		routes[r.Dst] = r
	}
	for _, r := range next.Routes {
		if o, ok := routes[r.Dst]; !ok || o != r {
			d.Routes = append(d.Routes, r)
		}
		delete(routes, r.Dst)
	}
	for _, r := range routes {
		d.RemovedRoutes = append(d.RemovedRoutes, r)
	}
	peers := map[netip.Addr]desired.TunnelPeer{}
	for _, t := range prev.Tunnels {
		for _, p := range t.Peers {
			peers[p.Gateway] = p
		}
	}
	for _, t := range next.Tunnels {
		for _, p := range t.Peers {
			if o, ok := peers[p.Gateway]; !ok || o.Remote != p.Remote || o.MAC.String() != p.MAC.String() {
				d.TunnelPeers = append(d.TunnelPeers, p)
			}
			delete(peers, p.Gateway)
		}
	}
	for _, p := range peers {
		d.RemovedTunnelPeers = append(d.RemovedTunnelPeers, p)
	}
	ips := map[netip.Addr]bool{}
	for _, f := range prev.Families {
		for _, a := range f.NodeIPs {
			ips[a] = true
		}
	}
	for _, f := range next.Families {
		for _, a := range f.NodeIPs {
			if !ips[a] {
				d.AddedNodeIPs = append(d.AddedNodeIPs, a)
			}
			delete(ips, a)
		}
	}
	for a := range ips {
		d.RemovedNodeIPs = append(d.RemovedNodeIPs, a)
	}
	return d
}

// nodeIPSet returns the elements of the IPv4 node-IP set of the table in ns, sorted.
func nodeIPSet(t *testing.T, ns netns.NsHandle) []netip.Addr {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	table := &nftables.Table{Name: linux.TableName, Family: nftables.TableFamilyINet}
	set, err := c.GetSetByName(table, "node-ips-v4")
	if err != nil {
		t.Fatal(err)
	}
	elems, err := c.GetSetElements(set)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, e := range elems {
		a, _ := netip.AddrFromSlice(e.Key)
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// TestApplyDeltaMatchesAWholeApply proves that the incremental path leaves the kernel as
// a whole Apply would (B8): random joins, leaves and moves of peers, some through the
// VXLAN device and some direct, some moving between the two, each applied as a Delta,
// leave exactly the desired routes, neighbour and forwarding entries and node-IP set
// elements; and a Delta costs one change per element it names.
func TestApplyDeltaMatchesAWholeApply(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	ns, _ := nodeNS(t)
	b := newBackend(t, ns)
	if _, err := b.ApplyDelta(ctx, &desired.Delta{}); !errors.Is(err, datapath.ErrFullApplyNeeded) {
		t.Fatalf("ApplyDelta before any Apply: error %v, want ErrFullApplyNeeded", err)
	}

	const n = 24
	r := rand.New(rand.NewPCG(8, 14))
	present := map[int]bool{0: true}
	encap := map[int]bool{0: true} // peer 0 keeps the device in place
	moved := map[int]bool{}
	build := func() *desired.Datapath {
		var idx []int
		for i := range n {
			if present[i] {
				idx = append(idx, i)
			}
		}
		all := peers(n, false)
		var rs []desired.Route
		var enc []int
		for _, i := range idx {
			rt := all[i]
			if moved[i] {
				rt.Via = netip.AddrFrom4([4]byte{10, 0, 200, byte(i + 1)}) // unique, as desired keeps node IPs
			}
			if encap[i] {
				enc = append(enc, len(rs))
			}
			rs = append(rs, rt)
		}
		dp := datapathFor(rs, false)
		local := netip.MustParseAddr("10.0.0.1")
		tun := desired.Tunnel{Family: v1alpha1.IPv4, Name: desired.TunnelName(v1alpha1.IPv4), VNI: 7, Port: 4789,
			Local: local, MAC: desired.TunnelMAC(local), Addr: netip.MustParseAddr("10.128.255.0"), MTU: 1450}
		for _, k := range enc {
			rt := &dp.Routes[k]
			gw := rt.Dst.Addr()
			tun.Peers = append(tun.Peers, desired.TunnelPeer{Gateway: gw, MAC: desired.TunnelMAC(rt.Via), Remote: rt.Via, Node: rt.Node})
			*rt = desired.Route{Dst: rt.Dst, Via: gw, Node: rt.Node, Dev: tun.Name}
		}
		slices.SortFunc(tun.Peers, func(a, b desired.TunnelPeer) int { return a.Gateway.Compare(b.Gateway) })
		dp.Tunnels = []desired.Tunnel{tun}
		dp.Families[0].VXLANPort = 4789
		return dp
	}
	prev := build()
	if _, err := b.Apply(ctx, prev, false); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for step := range 60 {
		i := 1 + r.IntN(n-1)
		switch r.IntN(4) {
		case 0:
			present[i] = !present[i]
		case 1:
			encap[i] = !encap[i]
		case 2:
			moved[i] = !moved[i]
		default:
			present[i], encap[i] = true, r.IntN(2) == 0
		}
		next := build()
		d := deltaOf(prev, next)
		st, err := b.ApplyDelta(ctx, d)
		if err != nil {
			t.Fatalf("step %d: ApplyDelta: %v", step, err)
		}
		checkTunnels(t, b, next, "after a delta")
		wantIPs := slices.SortedFunc(slices.Values(next.Families[0].NodeIPs), netip.Addr.Compare)
		if diff := cmp.Diff(wantIPs, nodeIPSet(t, ns), equateNetip); diff != "" {
			t.Errorf("step %d: node-IP set (-want +got):\n%s", step, diff)
		}
		if got, want := st.RoutesAdded+st.RoutesRemoved+st.RoutesReplaced, len(d.Routes)+len(d.RemovedRoutes); got != want {
			t.Errorf("step %d: %d route changes for a delta naming %d routes", step, got, want)
		}
		if st.NodeIPsChanged != len(d.AddedNodeIPs)+len(d.RemovedNodeIPs) || st.Routes != len(next.Routes) || st.Full || st.TableWritten {
			t.Errorf("step %d: stats %+v for delta %+v", step, st, d)
		}
		if t.Failed() {
			t.FailNow()
		}
		prev = next
	}
	// A full resync reads the kernel back and finds nothing to repair.
	st, err := b.Apply(ctx, prev, true)
	if err != nil {
		t.Fatalf("full Apply: %v", err)
	}
	if st.RoutesAdded+st.RoutesRemoved+st.RoutesReplaced+st.TunnelChanged != 0 {
		t.Errorf("a full resync after the deltas changed something: %+v", st)
	}
}
