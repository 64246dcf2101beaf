package desired

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/nodesubnet"
)

var equateNetip = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testStatus is the OverlayCluster status the manager publishes for the tests' dual-stack
// cluster: /24 and /120 blocks, the node network 10.224.0.0/16 and fd10:224::/64.
var testStatus = v1alpha1.OverlayClusterStatus{
	Mode: v1alpha1.ModeOverlay,
	Pools: []v1alpha1.PoolStatus{
		{Family: v1alpha1.IPv4, CIDRs: []string{"10.244.0.0/16"}, BlockPrefixLength: 24},
		{Family: v1alpha1.IPv6, CIDRs: []string{"fd12:3456:789a::/64"}, BlockPrefixLength: 120},
	},
	NodeNetworkCIDRs:   []string{"10.224.0.0/16", "fd10:224::/64"},
	NonMasqueradeCIDRs: []string{"10.244.0.0/16", "fd12:3456:789a::/64"},
}

var testCluster = mustCluster(&testStatus)

// nsCluster is a NodeSubnet cluster on the same node network: the VNet keeps the pod
// source address (R42), and a migration to Overlay has its IPv4 pool ready (R50).
var nsCluster = mustCluster(&v1alpha1.OverlayClusterStatus{
	Mode:               v1alpha1.ModeNodeSubnet,
	Pools:              []v1alpha1.PoolStatus{{Family: v1alpha1.IPv4, CIDRs: []string{"10.244.0.0/16"}, BlockPrefixLength: 24}},
	NodeNetworkCIDRs:   []string{"10.224.0.0/16"},
	NonMasqueradeCIDRs: []string{"10.244.0.0/16", "10.224.0.0/16"},
})

func mustCluster(st *v1alpha1.OverlayClusterStatus) *Cluster {
	c, err := ClusterFromStatus(st)
	if err != nil {
		panic(err)
	}
	return c
}

// nnc builds a NodeNetworkConfig as the controller writes it.
func nnc(name string, age int, podCIDRs, nodeIPs []string) v1alpha1.NodeNetworkConfig {
	return v1alpha1.NodeNetworkConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(age) * time.Minute))},
		Spec: v1alpha1.NodeNetworkConfigSpec{
			PodCIDRs: podCIDRs,
			NodeIPs:  nodeIPs,
			MaxPods:  250,
		},
	}
}

func pfx(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, x := range s {
		out[i] = netip.MustParsePrefix(x)
	}
	return out
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, x := range s {
		out[i] = netip.MustParseAddr(x)
	}
	return out
}

func route(dst, via, node string) Route {
	return Route{Dst: netip.MustParsePrefix(dst), Via: netip.MustParseAddr(via), Node: node}
}

var (
	dual1 = nnc("node-1", 0, []string{"10.244.1.0/24", "fd12:3456:789a::100/120"}, []string{"10.224.0.4", "fd10:224::4"})
	dual2 = nnc("node-2", 1, []string{"10.244.2.0/24", "fd12:3456:789a::200/120"}, []string{"10.224.0.5", "fd10:224::5"})
	dual3 = nnc("node-3", 2, []string{"10.244.3.0/24", "fd12:3456:789a::300/120"}, []string{"10.224.0.6", "fd10:224::6"})
)

func TestComputeRoutes(t *testing.T) {
	deleting := dual3
	deleting.DeletionTimestamp = &metav1.Time{Time: t0}
	v4only2 := nnc("node-2", 1, []string{"10.244.2.0/24", "fd12:3456:789a::200/120"}, []string{"10.224.0.5"})
	stale := nnc("node-old", 0, []string{"10.244.2.0/24"}, []string{"10.224.0.9"})
	greedy := nnc("node-x", 5, []string{"10.244.1.0/24"}, []string{"10.224.0.9"})
	bad := nnc("node-bad", 1, []string{"10.244.2.7/24", "10.244.5.0/24"}, []string{"bogus", "10.224.0.7"})

	tests := []struct {
		name         string
		all          []v1alpha1.NodeNetworkConfig
		wantRoutes   []Route
		wantWarnings []string
	}{
		{
			name: "R15 one route per peer block via the peer's node IP of the same family",
			all:  []v1alpha1.NodeNetworkConfig{dual1, dual2, dual3},
			wantRoutes: []Route{
				route("10.244.2.0/24", "10.224.0.5", "node-2"),
				route("10.244.3.0/24", "10.224.0.6", "node-3"),
				route("fd12:3456:789a::200/120", "fd10:224::5", "node-2"),
				route("fd12:3456:789a::300/120", "fd10:224::6", "node-3"),
			},
		},
		{
			name: "a peer being deleted gets no route",
			all:  []v1alpha1.NodeNetworkConfig{dual1, dual2, deleting},
			wantRoutes: []Route{
				route("10.244.2.0/24", "10.224.0.5", "node-2"),
				route("fd12:3456:789a::200/120", "fd10:224::5", "node-2"),
			},
		},
		{
			name:         "a peer without a node IP of a family gets no route for that family's block",
			all:          []v1alpha1.NodeNetworkConfig{dual1, v4only2},
			wantRoutes:   []Route{route("10.244.2.0/24", "10.224.0.5", "node-2")},
			wantWarnings: []string{"peer node-2 has no IPv6 node IP; no route to its block fd12:3456:789a::200/120"},
		},
		{
			name:         "of two peers claiming one block the newer wins (a stale object awaiting garbage collection loses)",
			all:          []v1alpha1.NodeNetworkConfig{dual1, stale, dual2},
			wantRoutes:   []Route{route("10.244.2.0/24", "10.224.0.5", "node-2"), route("fd12:3456:789a::200/120", "fd10:224::5", "node-2")},
			wantWarnings: []string{"peer node-old claims 10.244.2.0/24, which overlaps a block of node-2; no route to it"},
		},
		{
			name:         "a peer block overlapping the node's own block is never routed away, whatever its age",
			all:          []v1alpha1.NodeNetworkConfig{dual1, greedy},
			wantWarnings: []string{"peer node-x claims 10.244.1.0/24, which overlaps a block of node-1; no route to it"},
		},
		{
			name: "B7 a peer with malformed entries is skipped whole",
			all:  []v1alpha1.NodeNetworkConfig{dual1, bad},
			wantWarnings: []string{
				`peer node-bad is skipped: block "10.244.2.7/24" is not canonical; node IP "bogus" is not an IP address (B7)`,
			},
		},
		{
			name: "a peer not yet allocated gets no route",
			all:  []v1alpha1.NodeNetworkConfig{dual1, nnc("node-new", 9, nil, []string{"10.224.0.8"})},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(&dual1, tt.all, testCluster, nil, CNIOptions{})
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			if diff := cmp.Diff(tt.wantRoutes, got.Datapath.Routes, equateNetip, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWarnings, got.Warnings, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComputeFamilyRules(t *testing.T) {
	extraStatus := *testStatus.DeepCopy()
	extraStatus.NonMasqueradeCIDRs = []string{"10.244.0.0/16", "10.250.0.0/16", "169.254.0.0/16", "fd12:3456:789a::/64"}
	extra := mustCluster(&extraStatus)
	narrowStatus := *testStatus.DeepCopy()
	narrowStatus.NonMasqueradeCIDRs = nil
	narrow := mustCluster(&narrowStatus)
	// The node's own copies of the cluster-wide lists are not trusted to widen them.
	tampered := dual1
	v4 := nnc("node-1", 0, []string{"10.244.1.0/24"}, []string{"10.224.0.4"})

	tests := []struct {
		name    string
		self    v1alpha1.NodeNetworkConfig
		cluster *Cluster
		all     []v1alpha1.NodeNetworkConfig
		want    []FamilyRules
	}{
		{
			name: "R15 R16 dual-stack: per family, own blocks masqueraded except to the pod space, every node IP allowed",
			self: dual1,
			all:  []v1alpha1.NodeNetworkConfig{dual1, dual2, dual3},
			want: []FamilyRules{
				{
					Family: v1alpha1.IPv4, PodCIDRs: pfx("10.244.1.0/24"), LinkLocal: LinkLocalIPv4,
					NonMasquerade: pfx("10.244.0.0/16"), ClusterPodCIDRs: pfx("10.244.0.0/16"),
					NodeIPs: addrs("10.224.0.4", "10.224.0.5", "10.224.0.6"),
				},
				{
					Family: v1alpha1.IPv6, PodCIDRs: pfx("fd12:3456:789a::100/120"), LinkLocal: LinkLocalIPv6,
					NonMasquerade: pfx("fd12:3456:789a::/64"), ClusterPodCIDRs: pfx("fd12:3456:789a::/64"),
					NodeIPs: addrs("fd10:224::4", "fd10:224::5", "fd10:224::6"),
				},
			},
		},
		{
			name: "IPv4-only node has IPv4 rules only",
			self: v4,
			all:  []v1alpha1.NodeNetworkConfig{v4},
			want: []FamilyRules{{
				Family: v1alpha1.IPv4, PodCIDRs: pfx("10.244.1.0/24"), LinkLocal: LinkLocalIPv4,
				NonMasquerade: pfx("10.244.0.0/16"), ClusterPodCIDRs: pfx("10.244.0.0/16"),
				NodeIPs: addrs("10.224.0.4"),
			}},
		},
		{
			name:    "R54 extra non-masquerade ranges are kept; link-local stays listed and is masqueraded first by rule order",
			self:    dual1,
			cluster: extra,
			all:     []v1alpha1.NodeNetworkConfig{dual1},
			want: []FamilyRules{
				{
					Family: v1alpha1.IPv4, PodCIDRs: pfx("10.244.1.0/24"), LinkLocal: LinkLocalIPv4,
					NonMasquerade:   pfx("10.244.0.0/16", "10.250.0.0/16", "169.254.0.0/16"),
					ClusterPodCIDRs: pfx("10.244.0.0/16"), NodeIPs: addrs("10.224.0.4"),
				},
				{
					Family: v1alpha1.IPv6, PodCIDRs: pfx("fd12:3456:789a::100/120"), LinkLocal: LinkLocalIPv6,
					NonMasquerade: pfx("fd12:3456:789a::/64"), ClusterPodCIDRs: pfx("fd12:3456:789a::/64"),
					NodeIPs: addrs("fd10:224::4"),
				},
			},
		},
		{
			name:    "R15 pod-to-pod is never masqueraded even when the cluster lists no non-masquerade range: the pod CIDRs join it",
			self:    dual1,
			cluster: narrow,
			all:     []v1alpha1.NodeNetworkConfig{dual1, dual2},
			want: []FamilyRules{
				{
					Family: v1alpha1.IPv4, PodCIDRs: pfx("10.244.1.0/24"), LinkLocal: LinkLocalIPv4,
					NonMasquerade: pfx("10.244.0.0/16"), ClusterPodCIDRs: pfx("10.244.0.0/16"),
					NodeIPs: addrs("10.224.0.4", "10.224.0.5"),
				},
				{
					Family: v1alpha1.IPv6, PodCIDRs: pfx("fd12:3456:789a::100/120"), LinkLocal: LinkLocalIPv6,
					NonMasquerade: pfx("fd12:3456:789a::/64"), ClusterPodCIDRs: pfx("fd12:3456:789a::/64"),
					NodeIPs: addrs("fd10:224::4", "fd10:224::5"),
				},
			},
		},
		{
			name: "R15 B7 the node's own copies of the cluster-wide lists cannot turn SNAT off or widen the pod space",
			self: tampered,
			all:  []v1alpha1.NodeNetworkConfig{tampered},
			want: []FamilyRules{
				{
					Family: v1alpha1.IPv4, PodCIDRs: pfx("10.244.1.0/24"), LinkLocal: LinkLocalIPv4,
					NonMasquerade: pfx("10.244.0.0/16"), ClusterPodCIDRs: pfx("10.244.0.0/16"),
					NodeIPs: addrs("10.224.0.4"),
				},
				{
					Family: v1alpha1.IPv6, PodCIDRs: pfx("fd12:3456:789a::100/120"), LinkLocal: LinkLocalIPv6,
					NonMasquerade: pfx("fd12:3456:789a::/64"), ClusterPodCIDRs: pfx("fd12:3456:789a::/64"),
					NodeIPs: addrs("fd10:224::4"),
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := tt.cluster
			if cluster == nil {
				cluster = testCluster
			}
			got, err := Compute(&tt.self, tt.all, cluster, nil, CNIOptions{})
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			if diff := cmp.Diff(tt.want, got.Datapath.Families, equateNetip); diff != "" {
				t.Errorf("family rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComputeErrors(t *testing.T) {
	unallocated := nnc("node-1", 0, nil, []string{"10.224.0.4"})
	malformed := nnc("node-1", 0, []string{"10.244.1.1/24"}, nil)
	twoV4 := nnc("node-1", 0, []string{"10.244.1.0/24", "10.244.2.0/24"}, nil)
	nodeSubnet := func(reserved []string, subnet string) v1alpha1.NodeNetworkConfig {
		n := nsNode("node-1", reserved, "10.224.0.4")
		n.Spec.NodeSubnet = subnet
		return n
	}
	outside := nnc("node-1", 0, []string{"10.245.1.0/24"}, nil)
	wrongLength := nnc("node-1", 0, []string{"10.244.0.0/23"}, nil)
	everything := nnc("node-1", 0, []string{"0.0.0.0/0"}, nil)
	tooMany := nnc("node-1", 0, []string{"10.244.1.0/24", "fd12:3456:789a::100/120", "10.244.2.0/24"}, nil)
	nsOutside := nodeSubnet([]string{"10.225.0.8/30"}, "10.225.0.0/24")

	tests := []struct {
		name    string
		self    v1alpha1.NodeNetworkConfig
		wantIs  error
		wantMsg string
	}{
		{name: "a node without a block is not allocated yet", self: unallocated, wantIs: ErrNotAllocated},
		{name: "R40 a NodeSubnet node without a reservation is not allocated yet", self: nodeSubnet(nil, "10.224.0.0/24"), wantIs: ErrNotAllocated},
		{name: "R40 a malformed reservation is an error", self: nodeSubnet([]string{"10.224.0.9-10.224.0.7"}, "10.224.0.0/24"),
			wantMsg: `spec.reservedIPs[0]: "10.224.0.9-10.224.0.7" is not an address, a CIDR or a first-last range of one family`},
		{name: "R40 a reservation needs its subnet", self: nodeSubnet([]string{"10.224.0.8/30"}, ""),
			wantMsg: `spec.nodeSubnet "" is not a canonical CIDR; the reservation [10.224.0.8/30] needs its subnet (R40)`},
		{name: "R40 a reservation outside its subnet is an error", self: nodeSubnet([]string{"10.225.0.8/30"}, "10.224.0.0/24"),
			wantMsg: "reserved addresses 10.225.0.8-10.225.0.11 lie outside spec.nodeSubnet 10.224.0.0/24 (R40)"},
		{name: "R41 a reservation larger than maxPods is an error", self: nodeSubnet([]string{"10.224.0.0/25"}, "10.224.0.0/24"),
			wantMsg: "spec.reservedIPs hold 128 addresses, more than maxPods 30 (R40, R41)"},
		{name: "R40 NodeSubnet reservations are IPv4", self: nodeSubnet([]string{"fd10:224::10-fd10:224::20"}, "fd10:224::/64"),
			wantMsg: "reserved addresses fd10:224::10-fd10:224::20 are not IPv4"},
		{name: "a non-canonical own block is an error", self: malformed, wantMsg: "did you mean 10.244.1.0/24"},
		{name: "two own blocks of one family is an error", self: twoV4, wantMsg: "two blocks of one family"},
		{name: "B7 an own block outside the pod CIDRs is an error", self: outside, wantMsg: "own block 10.245.1.0/24 lies outside the cluster's pod CIDRs [10.244.0.0/16] (B7)"},
		{name: "B7 an own block of another length than the cluster's is an error", self: wrongLength, wantMsg: "own block 10.244.0.0/23 is not a /24"},
		{name: "B7 an own /0 block is an error", self: everything, wantMsg: "own block 0.0.0.0/0 is /0"},
		{name: "B7 more own blocks than families is an error", self: tooMany, wantMsg: "spec.podCIDRs holds 3 blocks"},
		{name: "B7 a node subnet outside the node network is an error", self: nsOutside, wantMsg: "spec.nodeSubnet 10.225.0.0/24 is not a subnet of the node network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := testCluster
			if tt.self.Spec.Mode == v1alpha1.ModeNodeSubnet {
				cluster = nsCluster
			}
			_, err := Compute(&tt.self, nil, cluster, nil, CNIOptions{})
			if err == nil {
				t.Fatal("Compute succeeded, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name string
		in   []netip.Prefix
		want []netip.Prefix
	}{
		{name: "contained prefixes are dropped", in: pfx("10.244.1.0/24", "10.244.0.0/16", "10.244.0.0/16"), want: pfx("10.244.0.0/16")},
		{name: "disjoint prefixes are sorted and kept", in: pfx("10.250.0.0/16", "10.244.0.0/16"), want: pfx("10.244.0.0/16", "10.250.0.0/16")},
		{name: "families are kept apart", in: pfx("fd00::/8", "10.0.0.0/8"), want: pfx("10.0.0.0/8", "fd00::/8")},
		{name: "empty stays empty", in: nil, want: []netip.Prefix{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Merge(tt.in), equateNetip, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Merge (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComputeRefusesBlocksOfAnotherLength(t *testing.T) {
	self := nnc("node-1", 0, []string{"10.244.1.0/24"}, []string{"10.224.0.4"})
	wide := nnc("node-wide", 9, []string{"10.244.4.0/23"}, []string{"10.224.0.9"})
	a := nnc("node-a", 5, []string{"10.244.4.0/24"}, []string{"10.224.0.5"})
	b := nnc("node-b", 5, []string{"10.244.5.0/24"}, []string{"10.224.0.6"})
	got, err := Compute(&self, []v1alpha1.NodeNetworkConfig{self, wide, a, b}, testCluster, nil, CNIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantRoutes := []Route{route("10.244.4.0/24", "10.224.0.5", "node-a"), route("10.244.5.0/24", "10.224.0.6", "node-b")}
	if diff := cmp.Diff(wantRoutes, got.Datapath.Routes, equateNetip); diff != "" {
		t.Errorf("B7 a newer /23 over two /24s takes neither (-want +got):\n%s", diff)
	}
	wantSkipped := []Skipped{{Node: "node-wide", Problems: []string{`block "10.244.4.0/23" is not a /24, the cluster's IPv4 block length (R10, R11, B2)`}}}
	if diff := cmp.Diff(wantSkipped, got.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

// benchPeers returns 5,000 dual-stack NodeNetworkConfigs as the cache holds them (UID and
// resourceVersion set), and the cluster they belong to.
func benchPeers() ([]v1alpha1.NodeNetworkConfig, *Cluster) {
	all := make([]v1alpha1.NodeNetworkConfig, 5000)
	for i := range all {
		all[i] = nnc(fmt.Sprintf("node-%d", i), i,
			// Written as the manager writes them: canonically (netip's String).
			[]string{fmt.Sprintf("10.%d.%d.0/24", 128+i/256, i%256), netip.MustParsePrefix(fmt.Sprintf("fd12:3456:789a::%x:%x/120", i>>8, (i&0xff)<<8)).String()},
			[]string{fmt.Sprintf("10.224.%d.%d", i/250, i%250+4), fmt.Sprintf("fd10:224::%x", i+4)})
		all[i].UID, all[i].ResourceVersion = types.UID(fmt.Sprint("uid-", i)), "1"
	}
	st := testStatus.DeepCopy()
	st.Pools[0].CIDRs = []string{"10.128.0.0/9"}
	st.NonMasqueradeCIDRs = []string{"10.128.0.0/9", "fd12:3456:789a::/64"}
	return all, mustCluster(st)
}

// BenchmarkCompute5000Peers measures the pure part of every reconcile at R13's scale: the
// datapath and CNI configuration of one node from 5,000 NodeNetworkConfigs, every peer
// parsed and checked (B7).
func BenchmarkCompute5000Peers(b *testing.B) {
	all, cluster := benchPeers()
	for b.Loop() {
		res, err := Compute(&all[0], all, cluster, nil, CNIOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Datapath.Routes) != 2*4999 {
			b.Fatalf("%d routes, want %d", len(res.Datapath.Routes), 2*4999)
		}
	}
}

// BenchmarkComputeOnePeerChangedOf5000 measures what an agent computes when one peer of
// 5,000 changes: the peer index it keeps across reconciles re-parses and re-checks that
// peer alone (B8).
func BenchmarkComputeOnePeerChangedOf5000(b *testing.B) {
	all, cluster := benchPeers()
	x := &PeerIndex{}
	x.Replace(all)
	if _, _, err := x.Compute(&all[0], cluster, nil, CNIOptions{}, Encapsulation{}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		p := all[1+i%4999]
		p.ResourceVersion = fmt.Sprint(i + 1)
		x.Set(&p)
		_, d, err := x.Compute(&all[0], cluster, nil, CNIOptions{}, Encapsulation{})
		if err != nil {
			b.Fatal(err)
		}
		if d == nil || !d.Empty() {
			b.Fatalf("an unchanged status changed the datapath: %+v", d)
		}
	}
}

// nsNode builds a NodeSubnet NodeNetworkConfig as the controller writes it: a reservation
// of the VNet's node subnet, the unused Overlay pod CIDR, and the VNet kept from SNAT (R42).
func nsNode(name string, reserved []string, nodeIP string) v1alpha1.NodeNetworkConfig {
	return v1alpha1.NodeNetworkConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0)},
		Spec: v1alpha1.NodeNetworkConfigSpec{
			Mode:        v1alpha1.ModeNodeSubnet,
			ReservedIPs: reserved,
			NodeSubnet:  "10.224.0.0/24",
			NodeIPs:     []string{nodeIP},
			MaxPods:     30,
		},
	}
}

func TestComputeNodeSubnet(t *testing.T) {
	self := nsNode("node-1", []string{"10.224.0.7-10.224.0.36"}, "10.224.0.4")
	peerNS := nsNode("node-2", []string{"10.224.0.37-10.224.0.66"}, "10.224.0.5")
	// Mid-migration a peer may already hold its Overlay block (R50).
	peerOverlay := nnc("node-3", 0, []string{"10.244.3.0/24"}, []string{"10.224.0.6"})
	peerOverlay.Spec.Mode = v1alpha1.ModeOverlay

	got, err := Compute(&self, []v1alpha1.NodeNetworkConfig{self, peerNS, peerOverlay}, nsCluster, nil, CNIOptions{})
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	want := Datapath{
		// R40: the VNet reaches node-subnet addresses; only a peer's block is routed.
		Routes: []Route{route("10.244.3.0/24", "10.224.0.6", "node-3")},
		Families: []FamilyRules{{
			Family: v1alpha1.IPv4,
			// R42: the node's pods are the masqueraded sources...
			PodCIDRs:  pfx("10.224.0.7/32", "10.224.0.8/29", "10.224.0.16/28", "10.224.0.32/30", "10.224.0.36/32"),
			LinkLocal: LinkLocalIPv4,
			// ...which keep their address inside the VNet.
			NonMasquerade: pfx("10.224.0.0/16", "10.244.0.0/16"),
			// R42, not R16: the VNet may reach node-subnet pods, so only blocks are guarded.
			ClusterPodCIDRs: pfx("10.244.0.0/16"),
			NodeIPs:         addrs("10.224.0.4", "10.224.0.5", "10.224.0.6"),
		}},
		Proxy: ProxyNeighbors{Uplink: netip.MustParseAddr("10.224.0.4")},
	}
	for a := netip.MustParseAddr("10.224.0.7"); a.Compare(netip.MustParseAddr("10.224.0.36")) <= 0; a = a.Next() {
		want.Proxy.Addrs = append(want.Proxy.Addrs, a)
	}
	if diff := cmp.Diff(want, got.Datapath, equateNetip, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("datapath (-want +got):\n%s", diff)
	}
	wantRanges := []Range{rng("10.224.0.0/24", "10.224.0.4", "10.224.0.7", "10.224.0.36", 30)}
	if diff := cmp.Diff(wantRanges, got.CNI.Ranges, equateNetip); diff != "" {
		t.Errorf("R40 host-local hands out exactly the reservation (-want +got):\n%s", diff)
	}
	if got.CNI.Capacity != 30 {
		t.Errorf("R41 capacity = %d, want the 30 reserved addresses", got.CNI.Capacity)
	}
	if want := "the 30 reserved addresses of node subnet 10.224.0.0/24"; got.CNI.Source != want {
		t.Errorf("CNI source = %q, want %q", got.CNI.Source, want)
	}
	if len(got.Warnings) != 0 {
		t.Errorf("unexpected warnings: %q", got.Warnings)
	}
}

func TestBuildNodeSubnetCNIConflist(t *testing.T) {
	self := nsNode("node-1", []string{"10.224.0.7", "10.224.0.9-10.224.0.10"}, "10.224.0.4")
	self.Spec.MaxPods = 10
	got, err := Compute(&self, nil, nsCluster, nil, CNIOptions{IPAMDataDir: "/run/test/ipam"})
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	want := `{
  "cniVersion": "1.0.0",
  "name": "overlaynet",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [
          [
            {
              "subnet": "10.224.0.0/24",
              "rangeStart": "10.224.0.7",
              "rangeEnd": "10.224.0.7",
              "gateway": "10.224.0.4"
            },
            {
              "subnet": "10.224.0.0/24",
              "rangeStart": "10.224.0.9",
              "rangeEnd": "10.224.0.10",
              "gateway": "10.224.0.4"
            }
          ]
        ],
        "routes": [
          {
            "dst": "0.0.0.0/0"
          }
        ],
        "dataDir": "/run/test/ipam"
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      }
    }
  ]
}
`
	if diff := cmp.Diff(want, string(got.CNI.Conflist)); diff != "" {
		t.Errorf("R40 one host-local range per reserved run (-want +got):\n%s", diff)
	}
	if got.CNI.Capacity != 3 {
		t.Errorf("capacity = %d, want 3", got.CNI.Capacity)
	}
}

// TestComputeLegacyLeases covers pods that kept a node-subnet address across a NodeSubnet
// to Overlay migration: they stay reachable and are masqueraded (R50, R16).
func TestComputeLegacyLeases(t *testing.T) {
	self := nnc("node-1", 0, []string{"10.244.1.0/24"}, []string{"10.224.0.4"})
	leases := addrs("10.244.1.2", "10.224.0.9", "10.224.0.10", "fd10:224::9")

	got, err := Compute(&self, nil, testCluster, leases, CNIOptions{})
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	if len(got.Datapath.Families) != 1 {
		t.Fatalf("families = %v, want IPv4 only", got.Datapath.Families)
	}
	if diff := cmp.Diff(pfx("10.224.0.9/32", "10.224.0.10/32"), got.Datapath.Families[0].LegacySources, equateNetip); diff != "" {
		t.Errorf("legacy sources: the leases outside the block (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(pfx("10.244.1.0/24"), got.Datapath.Families[0].PodCIDRs, equateNetip); diff != "" {
		t.Errorf("pod CIDRs (-want +got):\n%s", diff)
	}
	wantProxy := ProxyNeighbors{Uplink: netip.MustParseAddr("10.224.0.4"), Addrs: addrs("10.224.0.9", "10.224.0.10")}
	if diff := cmp.Diff(wantProxy, got.Datapath.Proxy, equateNetip); diff != "" {
		t.Errorf("the node still answers for its legacy pods (-want +got):\n%s", diff)
	}
	wantWarn := []string{"a pod holds fd10:224::9, of a family this node no longer has; it is not masqueraded"}
	if diff := cmp.Diff(wantWarn, got.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	// Without leases outside the block nothing is legacy.
	got, err = Compute(&self, nil, testCluster, addrs("10.244.1.2"), CNIOptions{})
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	if l := got.Datapath.Families[0].LegacySources; len(l) != 0 || len(got.Datapath.Proxy.Addrs) != 0 {
		t.Errorf("no legacy pod: legacy sources %v, proxy %v", l, got.Datapath.Proxy.Addrs)
	}
}

func TestBuildNodeSubnetCNIErrors(t *testing.T) {
	subnet := netip.MustParsePrefix("10.224.0.0/24")
	runs := []nodesubnet.Run{{First: netip.MustParseAddr("10.224.0.4"), Last: netip.MustParseAddr("10.224.0.9")}}
	for _, tt := range []struct {
		name string
		gw   netip.Addr
		runs []nodesubnet.Run
		want string
	}{
		{"R40 nothing reserved", netip.MustParseAddr("10.224.0.4"), nil, "no reserved addresses to hand out (R40)"},
		{"the node has no IPv4 address to be the gateway", netip.Addr{}, runs, "the node address invalid IP, the pods' gateway, is not an IPv4 address of node subnet 10.224.0.0/24 (R40)"},
		{"R40 a reservation never holds the node's address", netip.MustParseAddr("10.224.0.5"), runs, "reserved addresses 10.224.0.4-10.224.0.9 hold the node's own address 10.224.0.5 (R40)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := BuildNodeSubnetCNI(subnet, tt.gw, tt.runs, CNIOptions{}); err == nil || err.Error() != tt.want {
				t.Errorf("BuildNodeSubnetCNI error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestComputeNodeSubnetSkipsNodeAddresses covers a node that registered with an address
// of another node's reservation (the cloud assigns node addresses): until the controller
// moves the reservation, no pod gets the address and nothing answers for it (R40).
func TestComputeNodeSubnetSkipsNodeAddresses(t *testing.T) {
	self := nsNode("node-1", []string{"10.224.0.4-10.224.0.8"}, "10.224.0.9")
	self.Spec.MaxPods = 10
	late := nsNode("node-2", nil, "10.224.0.5")
	last := nsNode("node-3", nil, "10.224.0.8")
	got, err := Compute(&self, []v1alpha1.NodeNetworkConfig{late, last}, nsCluster, addrs("10.224.0.5"), CNIOptions{})
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	wantRanges := []Range{
		rng("10.224.0.0/24", "10.224.0.9", "10.224.0.4", "10.224.0.4", 1),
		rng("10.224.0.0/24", "10.224.0.9", "10.224.0.6", "10.224.0.7", 2),
	}
	if diff := cmp.Diff(wantRanges, got.CNI.Ranges, equateNetip); diff != "" {
		t.Errorf("R40 the CNI ranges skip the nodes' addresses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(addrs("10.224.0.4", "10.224.0.6", "10.224.0.7"), got.Datapath.Proxy.Addrs, equateNetip); diff != "" {
		t.Errorf("R40 the node answers for no node's address (-want +got):\n%s", diff)
	}
	wantWarn := []string{
		"reserved address 10.224.0.5 is the address of node node-2; no pod gets it (R40)",
		"reserved address 10.224.0.8 is the address of node node-3; no pod gets it (R40)",
		"a pod holds 10.224.0.5, the address of node node-2; the node does not answer for it",
	}
	if diff := cmp.Diff(wantWarn, got.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	// Every reserved address taken by nodes: nothing to hand out yet.
	self.Spec.ReservedIPs = []string{"10.224.0.5"}
	if _, err := Compute(&self, []v1alpha1.NodeNetworkConfig{late}, nsCluster, nil, CNIOptions{}); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("a reservation of node addresses only: error = %v, want ErrNotAllocated", err)
	}
}

// TestComputeUnsetMaxPodsTakesTheModeDefault covers a status without maxPods: the node is
// limited to its mode's default, not Overlay's (R12, R32, R41).
func TestComputeUnsetMaxPodsTakesTheModeDefault(t *testing.T) {
	for _, tt := range []struct {
		mode v1alpha1.NetworkMode
		want int
	}{{v1alpha1.ModeOverlay, 250}, {v1alpha1.ModeKubenet, 110}, {v1alpha1.ModeNodeSubnet, 30}} {
		t.Run(string(tt.mode), func(t *testing.T) {
			self := nnc("node-1", 0, []string{"10.244.1.0/24"}, []string{"10.224.0.4"})
			if tt.mode == v1alpha1.ModeNodeSubnet {
				self = nsNode("node-1", []string{"10.224.0.7-10.224.0.36"}, "10.224.0.4")
			}
			self.Spec.Mode, self.Spec.MaxPods = tt.mode, 0
			got, err := Compute(&self, nil, testCluster, nil, CNIOptions{})
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			if got.CNI.Capacity != tt.want {
				t.Errorf("capacity = %d, want the %s default %d", got.CNI.Capacity, tt.mode, tt.want)
			}
			want := fmt.Sprintf("spec.maxPods is unset; limiting the node to the %s default of %d pods (R12, R32, R41)", tt.mode, tt.want)
			if len(got.Warnings) == 0 || got.Warnings[0] != want {
				t.Errorf("warnings = %q, want first %q", got.Warnings, want)
			}
		})
	}
}
