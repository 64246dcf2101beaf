package linux_test

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// tunnelDatapath encapsulates peers i of peers(n, false) whose index is in encap, through
// the IPv4 VXLAN device with VNI vni; the others go direct.
func tunnelDatapath(n, vni int, encap ...int) *desired.Datapath {
	rs := peers(n, false)
	dp := datapathFor(rs, false)
	local := netip.MustParseAddr("10.0.0.1")
	t := desired.Tunnel{Family: v1alpha1.IPv4, Name: desired.TunnelName(v1alpha1.IPv4), VNI: vni, Port: 4789,
		Local: local, MAC: desired.TunnelMAC(local), Addr: netip.MustParseAddr("10.128.255.0"), MTU: 1450}
	for _, i := range encap {
		r := &dp.Routes[i]
		gw := r.Dst.Addr()
		t.Peers = append(t.Peers, desired.TunnelPeer{Gateway: gw, MAC: desired.TunnelMAC(r.Via), Remote: r.Via, Node: r.Node})
		*r = desired.Route{Dst: r.Dst, Via: gw, Node: r.Node, Dev: t.Name}
	}
	if len(t.Peers) > 0 {
		dp.Tunnels = []desired.Tunnel{t}
		dp.Families[0].VXLANPort = 4789
	}
	return dp
}

// wantEntries are the neighbour and forwarding entries of the encapsulated peers.
func wantEntries(dp *desired.Datapath) (map[string]map[netip.Addr]string, map[string]map[string]netip.Addr) {
	neigh, fdb := map[string]map[netip.Addr]string{}, map[string]map[string]netip.Addr{}
	for _, t := range dp.Tunnels {
		neigh[t.Name], fdb[t.Name] = map[netip.Addr]string{}, map[string]netip.Addr{}
		for _, p := range t.Peers {
			neigh[t.Name][p.Gateway] = p.MAC.String()
			fdb[t.Name][p.MAC.String()] = p.Remote
		}
	}
	return neigh, fdb
}

func checkTunnels(t *testing.T, b *linux.Backend, dp *desired.Datapath, what string) {
	t.Helper()
	neigh, fdb, err := b.OwnedTunnelEntries()
	if err != nil {
		t.Fatal(err)
	}
	wantNeigh, wantFDB := wantEntries(dp)
	if diff := cmp.Diff(wantNeigh, neigh, equateNetip); diff != "" {
		t.Errorf("%s: neighbour entries (-want +got)\n%s", what, diff)
	}
	if diff := cmp.Diff(wantFDB, fdb, equateNetip); diff != "" {
		t.Errorf("%s: forwarding entries (-want +got)\n%s", what, diff)
	}
	if diff := cmp.Diff(withoutNodes(dp.Routes), ownedRoutes(t, b), equateNetip); diff != "" {
		t.Errorf("%s: routes (-want +got)\n%s", what, diff)
	}
}

func TestApplyOwnsTheVXLANDeviceAndExactlyItsPeersEntries(t *testing.T) {
	requireRoot(t)
	ns, nl := nodeNS(t)
	b := newBackend(t, ns)
	ctx := context.Background()
	apply := func(dp *desired.Datapath, full bool) {
		t.Helper()
		if _, err := b.Apply(ctx, dp, full); err != nil {
			t.Fatal(err)
		}
	}

	u, err := b.Underlay([]netip.Addr{netip.MustParseAddr("10.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(desired.Underlay{Connected: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("fd10::/64")}, MTU: 1500}, u, equateNetip); diff != "" {
		t.Errorf("B9 the underlay is the uplink's prefixes and MTU (-want +got)\n%s", diff)
	}

	dp := tunnelDatapath(4, 7900, 1, 2)
	apply(dp, false)
	checkTunnels(t, b, dp, "B9 two peers encapsulated")
	l, err := nl.LinkByName(desired.TunnelName(v1alpha1.IPv4))
	if err != nil {
		t.Fatal(err)
	}
	vx := l.(*netlink.Vxlan)
	if vx.VxlanId != 7900 || vx.Port != 4789 || vx.MTU != 1450 || vx.Learning || vx.HardwareAddr.String() != desired.TunnelMAC(netip.MustParseAddr("10.0.0.1")).String() {
		t.Errorf("B9 device: VNI %d port %d MTU %d learning %v MAC %s", vx.VxlanId, vx.Port, vx.MTU, vx.Learning, vx.HardwareAddr)
	}

	// Drift: someone else's entries on the owned device, one of ours gone.
	index := l.Attrs().Index
	foreignMAC, _ := net.ParseMAC("02:00:00:00:00:99")
	for _, n := range []*netlink.Neigh{
		{LinkIndex: index, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF, IP: net.ParseIP("10.0.9.9"), HardwareAddr: foreignMAC},
		{LinkIndex: index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, IP: net.ParseIP("10.128.99.0"), HardwareAddr: foreignMAC},
	} {
		if err := nl.NeighSet(n); err != nil {
			t.Fatal(err)
		}
	}
	p := dp.Tunnels[0].Peers[0]
	if err := nl.NeighDel(&netlink.Neigh{LinkIndex: index, Family: unix.AF_INET, IP: p.Gateway.AsSlice()}); err != nil {
		t.Fatal(err)
	}
	apply(dp, true)
	checkTunnels(t, b, dp, "B9 a full apply repairs the device's entries")

	// Peer 1 moves onto the link, peer 3 off it.
	dp = tunnelDatapath(4, 7900, 2, 3)
	apply(dp, false)
	checkTunnels(t, b, dp, "B9 a peer moving onto the link leaves no entry behind")

	// A new VNI recreates the device, and the routes through it come back.
	dp = tunnelDatapath(4, 7901, 2, 3)
	apply(dp, false)
	checkTunnels(t, b, dp, "B9 a recreated device gets its entries and routes back")

	// No encapsulated peer: no device.
	dp = tunnelDatapath(4, 7901)
	apply(dp, false)
	checkTunnels(t, b, dp, "B9 the last encapsulated peer gone")
	if _, err := nl.LinkByName(desired.TunnelName(v1alpha1.IPv4)); err == nil {
		t.Error("B9 the VXLAN device outlived its last peer")
	}

	apply(tunnelDatapath(4, 7900, 0), false)
	if err := b.Teardown(); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.LinkByName(desired.TunnelName(v1alpha1.IPv4)); err == nil {
		t.Error("Teardown left the VXLAN device")
	}
}
