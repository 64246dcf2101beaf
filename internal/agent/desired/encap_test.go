package desired

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Two segments: 10.1.0.0/24 (this node, node-b) and 10.2.0.0/24 (node-c), dual-stack.
func encapCluster() (*v1alpha1.NodeNetworkConfig, []v1alpha1.NodeNetworkConfig) {
	self := nnc("node-a", 0, []string{"10.244.1.0/24", "fd12:3456:789a::100/120"}, []string{"10.1.0.4", "fd00:1::4"})
	all := []v1alpha1.NodeNetworkConfig{
		self,
		nnc("node-b", 1, []string{"10.244.2.0/24", "fd12:3456:789a::200/120"}, []string{"10.1.0.5", "fd00:1::5"}),
		nnc("node-c", 2, []string{"10.244.3.0/24", "fd12:3456:789a::300/120"}, []string{"10.2.0.4", "fd00:2::4"}),
	}
	return &self, all
}

// encapTestCluster is what the manager publishes for encapCluster: both families' pools
// and the two node segments.
var encapTestCluster = mustCluster(&v1alpha1.OverlayClusterStatus{
	Mode: v1alpha1.ModeOverlay,
	Pools: []v1alpha1.PoolStatus{
		{Family: v1alpha1.IPv4, CIDRs: []string{"10.244.0.0/16"}, BlockPrefixLength: 24},
		{Family: v1alpha1.IPv6, CIDRs: []string{"fd12:3456:789a::/64"}, BlockPrefixLength: 120},
	},
	NodeNetworkCIDRs:   []string{"10.1.0.0/24", "10.2.0.0/24", "fd00:1::/64", "fd00:2::/64"},
	NonMasqueradeCIDRs: []string{"10.244.0.0/16", "fd12:3456:789a::/64"},
})

var segmentA = Underlay{Connected: pfx("10.1.0.0/24", "fd00:1::/64"), MTU: 1500}

func TestEncapsulate(t *testing.T) {
	cs := func(m v1alpha1.CrossSubnetMode) netconf.CrossSubnet {
		return netconf.CrossSubnet{Mode: m, Port: 4789, VNI: 7900}
	}
	tunnel := func(f v1alpha1.IPFamily, local, addr string, mtu int, peers ...TunnelPeer) Tunnel {
		return Tunnel{Family: f, Name: TunnelName(f), VNI: 7900, Port: 4789, Local: netip.MustParseAddr(local),
			MAC: TunnelMAC(netip.MustParseAddr(local)), Addr: netip.MustParseAddr(addr), MTU: mtu, Peers: peers}
	}
	peer := func(gw, remote, node string) TunnelPeer {
		r := netip.MustParseAddr(remote)
		return TunnelPeer{Gateway: netip.MustParseAddr(gw), MAC: TunnelMAC(r), Remote: r, Node: node}
	}
	encRoute := func(dst, gw, node string, f v1alpha1.IPFamily) Route {
		r := route(dst, gw, node)
		r.Dev = TunnelName(f)
		return r
	}
	for _, tc := range []struct {
		name        string
		mode        v1alpha1.CrossSubnetMode
		wantRoutes  []Route
		wantTunnels []Tunnel
		wantPaths   Paths
	}{
		{
			name: "B9 CrossSubnet routes the peer on the link directly and encapsulates the other, both families",
			mode: v1alpha1.CrossSubnetModeCrossSubnet,
			wantRoutes: []Route{
				route("10.244.2.0/24", "10.1.0.5", "node-b"),
				encRoute("10.244.3.0/24", "10.244.3.0", "node-c", v1alpha1.IPv4),
				route("fd12:3456:789a::200/120", "fd00:1::5", "node-b"),
				encRoute("fd12:3456:789a::300/120", "fd12:3456:789a::300", "node-c", v1alpha1.IPv6),
			},
			wantTunnels: []Tunnel{
				tunnel(v1alpha1.IPv4, "10.1.0.4", "10.244.1.0", 1450, peer("10.244.3.0", "10.2.0.4", "node-c")),
				tunnel(v1alpha1.IPv6, "fd00:1::4", "fd12:3456:789a::100", 1430, peer("fd12:3456:789a::300", "fd00:2::4", "node-c")),
			},
			wantPaths: Paths{Direct: 1, Encapsulated: 1},
		},
		{
			name: "B9 VXLAN encapsulates every peer",
			mode: v1alpha1.CrossSubnetModeVXLAN,
			wantRoutes: []Route{
				encRoute("10.244.2.0/24", "10.244.2.0", "node-b", v1alpha1.IPv4),
				encRoute("10.244.3.0/24", "10.244.3.0", "node-c", v1alpha1.IPv4),
				encRoute("fd12:3456:789a::200/120", "fd12:3456:789a::200", "node-b", v1alpha1.IPv6),
				encRoute("fd12:3456:789a::300/120", "fd12:3456:789a::300", "node-c", v1alpha1.IPv6),
			},
			wantTunnels: []Tunnel{
				tunnel(v1alpha1.IPv4, "10.1.0.4", "10.244.1.0", 1450, peer("10.244.2.0", "10.1.0.5", "node-b"), peer("10.244.3.0", "10.2.0.4", "node-c")),
				tunnel(v1alpha1.IPv6, "fd00:1::4", "fd12:3456:789a::100", 1430,
					peer("fd12:3456:789a::200", "fd00:1::5", "node-b"), peer("fd12:3456:789a::300", "fd00:2::4", "node-c")),
			},
			wantPaths: Paths{Encapsulated: 2},
		},
		{
			name: "B9 Direct never encapsulates (today's behaviour)",
			mode: v1alpha1.CrossSubnetModeDirect,
			wantRoutes: []Route{
				route("10.244.2.0/24", "10.1.0.5", "node-b"),
				route("10.244.3.0/24", "10.2.0.4", "node-c"),
				route("fd12:3456:789a::200/120", "fd00:1::5", "node-b"),
				route("fd12:3456:789a::300/120", "fd00:2::4", "node-c"),
			},
			wantPaths: Paths{Direct: 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			self, all := encapCluster()
			res, err := Compute(self, all, encapTestCluster, nil, CNIOptions{})
			if err != nil {
				t.Fatal(err)
			}
			paths, warnings := Encapsulate(&res.Datapath, self, cs(tc.mode), segmentA)
			if len(warnings) > 0 {
				t.Errorf("unexpected warnings: %v", warnings)
			}
			if diff := cmp.Diff(tc.wantRoutes, res.Datapath.Routes, equateNetip); diff != "" {
				t.Errorf("routes (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantTunnels, res.Datapath.Tunnels, equateNetip); diff != "" {
				t.Errorf("tunnels (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantPaths, paths); diff != "" {
				t.Errorf("paths (-want +got)\n%s", diff)
			}
			for _, f := range res.Datapath.Families {
				if want := map[bool]int{true: 4789, false: 0}[len(tc.wantTunnels) > 0]; f.VXLANPort != want {
					t.Errorf("%s VXLANPort = %d, want %d (the guard of the tunnel's port)", f.Family, f.VXLANPort, want)
				}
			}
		})
	}
}

func TestTunnelMAC(t *testing.T) {
	if got, want := TunnelMAC(netip.MustParseAddr("10.2.0.4")), mac("02:4f:0a:02:00:04"); got.String() != want.String() {
		t.Errorf("B9 an IPv4 node IP's VTEP MAC is 02:4f + the address: got %s, want %s", got, want)
	}
	a, b := TunnelMAC(netip.MustParseAddr("fd00:2::4")), TunnelMAC(netip.MustParseAddr("fd00:2::4"))
	if a.String() != b.String() {
		t.Errorf("B9 an IPv6 node IP's VTEP MAC is deterministic: %s then %s", a, b)
	}
	if a[0]&0x03 != 0x02 {
		t.Errorf("B9 VTEP MAC %s must be locally administered unicast", a)
	}
	if c := TunnelMAC(netip.MustParseAddr("fd00:2::5")); c.String() == a.String() {
		t.Errorf("B9 two IPv6 node IPs share MAC %s", c)
	}
}

func TestEncapsulateRefusesAPeerWhoseMACCollides(t *testing.T) {
	self, all := encapCluster()
	res, err := Compute(self, all, encapTestCluster, nil, CNIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Pretend both peers' node IPs derive one MAC: node-c's route is refused.
	res.Datapath.Routes[1].Via = netip.MustParseAddr("10.1.0.5")
	res.Datapath.Routes[1].Node = "node-c"
	_, warnings := Encapsulate(&res.Datapath, self, netconf.CrossSubnet{Mode: v1alpha1.CrossSubnetModeVXLAN, Port: 4789, VNI: 1}, segmentA)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "is also node-b's") {
		t.Fatalf("want one warning naming the collision, got %v", warnings)
	}
	if n := len(res.Datapath.Tunnels[0].Peers); n != 1 {
		t.Errorf("IPv4 tunnel holds %d peers, want 1 (the colliding one refused)", n)
	}
}

func TestPodMTU(t *testing.T) {
	dual := []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6}
	for _, tc := range []struct {
		name     string
		cs       netconf.CrossSubnet
		u        Underlay
		families []v1alpha1.IPFamily
		want     int
		wantErr  string
	}{
		{"B9 IPv4 pods lose the 50 bytes of VXLAN over IPv4", netconf.CrossSubnet{Mode: v1alpha1.CrossSubnetModeCrossSubnet}, Underlay{MTU: 1500}, dual[:1], 1450, ""},
		{"B9 dual-stack pods lose the 70 bytes of VXLAN over IPv6", netconf.CrossSubnet{Mode: v1alpha1.CrossSubnetModeVXLAN}, Underlay{MTU: 1500}, dual, 1430, ""},
		{"B9 Direct keeps the host's MTU", netconf.CrossSubnet{Mode: v1alpha1.CrossSubnetModeDirect}, Underlay{MTU: 1500}, dual, 0, ""},
		{"B9 the user's pod MTU wins", netconf.CrossSubnet{Mode: v1alpha1.CrossSubnetModeVXLAN, PodMTU: 1400}, Underlay{MTU: 9000}, dual, 1400, ""},
		{"X2 an uplink too small for VXLAN is refused", netconf.CrossSubnet{Mode: v1alpha1.CrossSubnetModeCrossSubnet}, Underlay{MTU: 1300}, dual, 0, "(X2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PodMTU(tc.cs, tc.u, tc.families)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error containing %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}
