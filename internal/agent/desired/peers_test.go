package desired

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// TestComputeSkipsPeersThatBreakTheRules proves B7's peer rules: whatever a peer's status
// says, only a block inside the pod CIDRs with the family's block length, via a global
// unicast node IP inside the node network that no other node holds, is programmed. A peer
// with any entry that breaks them is skipped whole (no route, and its node IPs may not
// reach pods), its bad entries are reported, and the good peer is programmed as before.
func TestComputeSkipsPeersThatBreakTheRules(t *testing.T) {
	good := []Route{
		route("10.244.2.0/24", "10.224.0.5", "node-2"),
		route("fd12:3456:789a::200/120", "fd10:224::5", "node-2"),
	}
	tests := []struct {
		name         string
		bad          v1alpha1.NodeNetworkConfig
		wantProblems []string
	}{
		{
			name:         "B7 a block outside the pod CIDRs is skipped",
			bad:          nnc("evil", 9, []string{"192.168.0.0/24"}, []string{"10.224.0.66"}),
			wantProblems: []string{`block "192.168.0.0/24" lies outside the cluster's pod CIDRs [10.244.0.0/16]`},
		},
		{
			name: "B7 a /0 block is skipped, in either family",
			bad:  nnc("evil", 9, []string{"0.0.0.0/0", "::/0"}, []string{"10.224.0.66", "fd10:224::66"}),
			wantProblems: []string{
				`block "0.0.0.0/0" is /0, every address`,
				`block "::/0" is /0, every address`,
			},
		},
		{
			name:         "B7 a block of another length than the family's is skipped",
			bad:          nnc("evil", 9, []string{"10.244.8.0/25"}, []string{"10.224.0.66"}),
			wantProblems: []string{`block "10.244.8.0/25" is not a /24, the cluster's IPv4 block length (R10, R11, B2)`},
		},
		{
			name:         "B7 an IPv4-mapped block is skipped",
			bad:          nnc("evil", 9, []string{"::ffff:10.244.9.0/120"}, []string{"10.224.0.66"}),
			wantProblems: []string{`block "::ffff:10.244.9.0/120" is an IPv4-mapped IPv6 prefix`},
		},
		{
			name:         "B7 a block not written canonically is skipped",
			bad:          nnc("evil", 9, []string{"FD12:3456:789a::900/120"}, []string{"fd10:224::66"}),
			wantProblems: []string{`block "FD12:3456:789a::900/120" is not canonical`},
		},
		{
			name:         "B7 a zoned block is skipped",
			bad:          nnc("evil", 9, []string{"fd12:3456:789a::900%eth0/120"}, []string{"fd10:224::66"}),
			wantProblems: []string{`block "fd12:3456:789a::900%eth0/120" is not a CIDR`},
		},
		{
			name: "B7 a node IP outside the node network skips the peer",
			bad:  nnc("evil", 9, []string{"10.244.9.0/24"}, []string{"203.0.113.7"}),
			wantProblems: []string{
				`node IP "203.0.113.7" lies outside the node network [10.224.0.0/16 fd10:224::/64]`,
			},
		},
		{
			name: "B7 node IPs that are not global unicast are ignored",
			bad:  nnc("evil", 9, []string{"10.244.9.0/24"}, []string{"127.0.0.1", "fe80::1"}),
			wantProblems: []string{
				`node IP "127.0.0.1" is not a global unicast address`,
				`node IP "fe80::1" is not a global unicast address`,
			},
		},
		{
			name: "B7 IPv4-mapped and zoned node IPs are ignored",
			bad:  nnc("evil", 9, []string{"10.244.9.0/24"}, []string{"::ffff:10.224.0.66", "fd10:224::66%eth0"}),
			wantProblems: []string{
				`node IP "::ffff:10.224.0.66" is an IPv4-mapped IPv6 address`,
				`node IP "fd10:224::66%eth0" carries an IPv6 zone`,
			},
		},
		{
			name:         "B7 a node IP equal to this node's is ignored",
			bad:          nnc("evil", 9, []string{"10.244.9.0/24"}, []string{"10.224.0.4"}),
			wantProblems: []string{`node IP "10.224.0.4" is this node's own address`},
		},
		{
			name:         "B7 a node IP equal to an older peer's is ignored: the newcomer cannot take node-2's traffic",
			bad:          nnc("evil", 9, []string{"10.244.9.0/24"}, []string{"10.224.0.5"}),
			wantProblems: []string{`node IP "10.224.0.5" is already the address of node-2`},
		},
		{
			name: "B7 lists longer than the schema allows are not read",
			bad:  nnc("evil", 9, []string{"10.244.9.0/24", "10.244.10.0/24", "10.244.11.0/24"}, []string{"10.224.0.66", "10.224.0.67", "10.224.0.68"}),
			wantProblems: []string{
				"spec.podCIDRs holds 3 entries, more than 2",
				"spec.nodeIPs holds 3 entries, more than 2",
			},
		},
		{
			name: "B7 a second block or node IP of one family is skipped",
			bad:  nnc("evil", 9, []string{"10.244.9.0/24", "10.244.10.0/24"}, []string{"10.224.0.66", "10.224.0.67"}),
			wantProblems: []string{
				`block "10.244.10.0/24" is a second IPv4 block`,
				`node IP "10.224.0.67" is a second IPv4 node IP`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(&dual1, []v1alpha1.NodeNetworkConfig{dual1, dual2, tt.bad}, testCluster, nil, CNIOptions{})
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			if diff := cmp.Diff(good, got.Datapath.Routes, equateNetip); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			wantSkipped := []Skipped{{Node: "evil", Problems: tt.wantProblems}}
			if diff := cmp.Diff(wantSkipped, got.Skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			for _, f := range got.Datapath.Families {
				for _, a := range f.NodeIPs {
					if !slices.Contains(addrs("10.224.0.4", "fd10:224::4", "10.224.0.5", "fd10:224::5"), a) {
						t.Errorf("B7 R16 %s node IP set holds %s, not node-1's or node-2's", f.Family, a)
					}
				}
			}
		})
	}
}

func TestClusterFromStatus(t *testing.T) {
	withRules := v1alpha1.OverlayClusterStatus{
		Mode:  v1alpha1.ModeOverlay,
		Pools: []v1alpha1.PoolStatus{{Family: v1alpha1.IPv4, CIDRs: []string{"10.244.0.0/16"}, BlockPrefixLength: 24}},
		NetworkRules: []v1alpha1.NetworkRule{
			{Name: "node-to-node", Sources: []string{"10.224.0.0/16"}, Destinations: []string{"10.224.0.0/16"}},
		},
		NonMasqueradeCIDRs: []string{"10.244.0.0/16"},
	}
	got, err := ClusterFromStatus(&withRules)
	if err != nil {
		t.Fatalf("a status without nodeNetworkCIDRs but with R17's node-to-node rule: %v", err)
	}
	if diff := cmp.Diff(pfx("10.224.0.0/16"), got.NodeNetwork, equateNetip); diff != "" {
		t.Errorf("the node network comes from the node-to-node rule (-want +got):\n%s", diff)
	}

	mutate := func(f func(*v1alpha1.OverlayClusterStatus)) *v1alpha1.OverlayClusterStatus {
		st := testStatus.DeepCopy()
		f(st)
		return st
	}
	for _, tt := range []struct {
		name    string
		st      *v1alpha1.OverlayClusterStatus
		wantIs  error
		wantMsg string
	}{
		{name: "B7 a status the manager has not written is not enough", st: &v1alpha1.OverlayClusterStatus{}, wantIs: ErrNoClusterFacts},
		{name: "B7 a status without a node network is not enough", st: mutate(func(s *v1alpha1.OverlayClusterStatus) { s.NodeNetworkCIDRs = nil }), wantIs: ErrNoClusterFacts},
		{name: "B7 a /0 node network is refused", st: mutate(func(s *v1alpha1.OverlayClusterStatus) { s.NodeNetworkCIDRs = []string{"0.0.0.0/0"} }), wantMsg: "0.0.0.0/0 is /0"},
		{name: "B7 an IPv4-mapped pod CIDR is refused", st: mutate(func(s *v1alpha1.OverlayClusterStatus) {
			s.Pools[1].CIDRs = []string{"::ffff:10.244.0.0/112"}
		}), wantMsg: "IPv4-mapped"},
		{name: "B2 a block length shorter than its pod CIDR is refused", st: mutate(func(s *v1alpha1.OverlayClusterStatus) { s.Pools[0].BlockPrefixLength = 8 }), wantMsg: "blockPrefixLength 8 does not fit pod CIDR 10.244.0.0/16"},
		{name: "R15 non-masquerade ranges covering every IPv4 destination are refused", st: mutate(func(s *v1alpha1.OverlayClusterStatus) {
			s.NonMasqueradeCIDRs = []string{"0.0.0.0/1", "128.0.0.0/1"}
		}), wantMsg: "cover every IPv4 destination"},
		{name: "R15 a /0 non-masquerade range is refused", st: mutate(func(s *v1alpha1.OverlayClusterStatus) { s.NonMasqueradeCIDRs = []string{"::/0"} }), wantMsg: "::/0 is /0"},
		{name: "B7 an overlong list is refused", st: mutate(func(s *v1alpha1.OverlayClusterStatus) {
			s.NodeNetworkCIDRs = make([]string, MaxNodeNetworkCIDRs+1)
		}), wantMsg: "more than 16"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ClusterFromStatus(tt.st)
			if err == nil {
				t.Fatal("ClusterFromStatus succeeded, want an error")
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

func TestComputeClampsMaxPods(t *testing.T) {
	for _, tt := range []struct {
		maxPods int32
		want    int
	}{{1, 10}, {100000, 250}, {-5, 250}, {120, 120}} {
		self := nnc("node-1", 0, []string{"10.244.1.0/24"}, []string{"10.224.0.4"})
		self.Spec.MaxPods = tt.maxPods
		got, err := Compute(&self, nil, testCluster, nil, CNIOptions{})
		if err != nil {
			t.Fatalf("maxPods %d: %v", tt.maxPods, err)
		}
		if got.CNI.Capacity != tt.want {
			t.Errorf("R12 maxPods %d: capacity %d, want %d", tt.maxPods, got.CNI.Capacity, tt.want)
		}
	}
}
