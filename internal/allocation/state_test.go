package allocation

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/ipam"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

func claimOf(block, node, uid string) v1.BlockClaim {
	p := netip.MustParsePrefix(block)
	return v1.BlockClaim{
		ObjectMeta: metav1.ObjectMeta{Name: ClaimName(p)},
		Spec:       v1.BlockClaimSpec{Block: block, Family: netconf.FamilyOf(p.Addr()), NodeName: node, NodeUID: uid},
	}
}

func TestCheckClaim(t *testing.T) {
	bad := func(c v1.BlockClaim, mut func(*v1.BlockClaim)) v1.BlockClaim { mut(&c); return c }
	ok := claimOf("10.244.1.0/24", "a", "uid-a")
	for _, tc := range []struct {
		name    string
		claim   v1.BlockClaim
		wantErr string
	}{
		{"a claim written by the controller is trusted", ok, ""},
		{"a family that does not match the block is refused",
			bad(ok, func(c *v1.BlockClaim) { c.Spec.Family = v1.IPv6 }), "family"},
		{"a name that does not match the block is refused",
			bad(ok, func(c *v1.BlockClaim) { c.Spec.Block = "10.0.0.0/8" }), "must be named"},
		{"a block with host bits is refused",
			bad(ok, func(c *v1.BlockClaim) { c.Spec.Block = "10.244.1.7/24"; c.Name = "v4-10.244.1.7-24" }), "canonical"},
		{"an IPv4-mapped IPv6 block is refused",
			bad(ok, func(c *v1.BlockClaim) { c.Spec.Block = "::ffff:10.244.1.0/120" }), "canonical"},
		{"a block that does not parse is refused",
			bad(ok, func(c *v1.BlockClaim) { c.Spec.Block = "nonsense" }), "canonical"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckClaim(&tc.claim)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("CheckClaim() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func overlayConfig(t testing.TB, podCIDR string, blockBits int) *netconf.Config {
	t.Helper()
	bits := int32(blockBits)
	c, err := netconf.Resolve(&v1.OverlayClusterSpec{PodCIDRs: []string{podCIDR}, VNetCIDRs: []string{"10.1.0.0/16"}, IPv4BlockPrefixLength: bits})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMalformedClaimsAreIgnored(t *testing.T) {
	s := New()
	c := claimOf("10.244.0.0/24", "a", "uid-a")
	c.Spec.Family = v1.IPv6
	ignored := s.Load([]v1.BlockClaim{c}, nil)
	if len(ignored) != 1 {
		t.Fatalf("Load ignored %v, want the one malformed claim", ignored)
	}
	if _, err := s.Sync(PoolSpecs(overlayConfig(t, "10.244.0.0/16", 24))); err != nil {
		t.Fatal(err)
	}
	got, err := s.Reserve(v1.IPv4, 0)
	if err != nil || got != netip.MustParsePrefix("10.244.0.0/24") {
		t.Fatalf("Reserve() = %v, %v: a malformed claim must not count as an allocation", got, err)
	}
	if held := s.ClaimsOf("a", "uid-a"); len(held) != 0 {
		t.Fatalf("ClaimsOf() = %v, want nothing", held)
	}
}

func TestStaleClaims(t *testing.T) {
	s := New()
	s.Load([]v1.BlockClaim{
		claimOf("10.244.0.0/24", "a", "uid-a"),
		claimOf("10.244.1.0/24", "a", ""),        // written by someone else: no UID
		claimOf("10.244.2.0/24", "a", "uid-old"), // an earlier Node named a
		claimOf("10.244.3.0/24", "ghost", ""),
		claimOf("10.244.4.0/24", "", "uid-a"), // another name, a's UID
	}, nil)
	names := func(refs []ClaimRef) []string {
		var out []string
		for _, r := range refs {
			out = append(out, r.Name)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name          string
		node, liveUID string
		want          []string
	}{
		{"a live node keeps its own claims and loses those of an empty or other UID", "a", "uid-a",
			[]string{"v4-10.244.1.0-24", "v4-10.244.2.0-24"}},
		{"every claim of a name without a Node is stale, an empty UID included", "ghost", "", []string{"v4-10.244.3.0-24"}},
		{"claims without a node name are stale", "", "", []string{"v4-10.244.4.0-24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, names(s.StaleClaims(tc.node, tc.liveUID))); diff != "" {
				t.Errorf("StaleClaims (-want +got):\n%s", diff)
			}
		})
	}
	if got := s.ClaimsOf("a", "uid-a")[v1.IPv4]; !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.244.0.0/24")}) {
		t.Errorf("ClaimsOf(a, uid-a) = %v: a claim with a's UID under another name is not a's", got)
	}
}

// drain reserves every free block and returns them.
func drain(t *testing.T, s *State) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for {
		b, err := s.Reserve(v1.IPv4, 0)
		if errors.Is(err, ipam.ErrExhausted) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

func TestEveryClaimOccupiesItsRangeWhateverItsSize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		claims    []string
		poolBits  int
		wantFirst string
		wantCount int
	}{
		{"a /23 pool skips the /23 holding an existing /24 claim", []string{"10.244.2.0/24"}, 23, "10.244.0.0/23", 127},
		{"a /24 pool skips both /24s of an existing /23 claim", []string{"10.244.0.0/23"}, 24, "10.244.2.0/24", 254},
		{"a /24 pool skips the /24 holding a /32 claim", []string{"10.244.0.9/32"}, 24, "10.244.1.0/24", 255},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			var cs []v1.BlockClaim
			for _, c := range tc.claims {
				cs = append(cs, claimOf(c, "old", "uid-old"))
			}
			s.Load(cs, nil)
			if _, err := s.Sync(PoolSpecs(overlayConfig(t, "10.244.0.0/16", tc.poolBits))); err != nil {
				t.Fatal(err)
			}
			got := drain(t, s)
			if len(got) != tc.wantCount || got[0].String() != tc.wantFirst {
				t.Fatalf("handed out %d blocks from %v, want %d from %s", len(got), got[0], tc.wantCount, tc.wantFirst)
			}
			for _, b := range got {
				for _, c := range tc.claims {
					if b.Overlaps(netip.MustParsePrefix(c)) {
						t.Fatalf("B4: handed out %s over the existing claim %s", b, c)
					}
				}
			}
		})
	}
}

func TestAClaimOfAnotherSizeSeenLaterOccupiesItsRange(t *testing.T) {
	s := New()
	s.Load(nil, nil)
	if _, err := s.Sync(PoolSpecs(overlayConfig(t, "10.244.0.0/22", 23))); err != nil {
		t.Fatal(err)
	}
	c := claimOf("10.244.0.0/24", "old", "uid-old")
	if err := s.ObserveClaim(&c); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.244.2.0/23")}) {
		t.Fatalf("handed out %v, want only 10.244.2.0/23", got)
	}
	s.ForgetClaim(c.Name, "uid-old")
	if got := drain(t, s); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.244.0.0/23")}) {
		t.Fatalf("after the release handed out %v, want 10.244.0.0/23", got)
	}
}

func TestFactsGuardAConfigurationChange(t *testing.T) {
	overlay := overlayConfig(t, "10.244.0.0/16", 24)
	kubenet := *overlay
	kubenet.Mode = v1.ModeKubenet
	for _, tc := range []struct {
		name      string
		claims    []string
		modes     []v1.NetworkMode
		cfg       *netconf.Config
		wantRules []string
	}{
		{"nothing allocated accepts anything", nil, nil, &kubenet, nil},
		{"B1 a block size other than the allocated blocks' is refused", []string{"10.244.0.0/23"}, []v1.NetworkMode{v1.ModeOverlay}, overlay, []string{"B1"}},
		{"B1 the same block size is accepted", []string{"10.244.0.0/24"}, []v1.NetworkMode{v1.ModeOverlay}, overlay, nil},
		{"NodeSubnet reservations are not blocks", []string{"10.1.0.9/32"}, []v1.NetworkMode{v1.ModeNodeSubnet}, overlay, nil},
		{"R52 leaving Overlay is refused", []string{"10.244.0.0/24"}, []v1.NetworkMode{v1.ModeOverlay}, &kubenet, []string{"R52"}},
		{"R51 Kubenet to Overlay is accepted", []string{"10.244.0.0/24"}, []v1.NetworkMode{v1.ModeKubenet}, overlay, nil},
		{"B1 dropping a family that holds blocks is refused", []string{"fd00::/120"}, []v1.NetworkMode{v1.ModeOverlay}, overlay, []string{"B1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			var cs []v1.BlockClaim
			for _, c := range tc.claims {
				cs = append(cs, claimOf(c, "n", "uid"))
			}
			var ns []NodeConfig
			for i, m := range tc.modes {
				ns = append(ns, NodeConfig{Name: string(rune('a' + i)), Mode: m, Allocated: true})
			}
			s.Load(cs, ns)
			var got []string
			for _, msg := range s.Facts().Check(tc.cfg) {
				got = append(got, msg[strings.LastIndex(msg, "(")+1:len(msg)-1])
			}
			if diff := cmp.Diff(tc.wantRules, got); diff != "" {
				t.Errorf("rules (-want +got):\n%s\nmessages: %v", diff, s.Facts().Check(tc.cfg))
			}
		})
	}
}

func TestFactsComeFromAllocatedNodes(t *testing.T) {
	s := New()
	s.Load(nil, []NodeConfig{{Name: "a", Mode: v1.ModeKubenet, Allocated: true}, {Name: "b", Mode: v1.ModeNodeSubnet}})
	if got := s.Facts().Legacy(); got != v1.ModeKubenet {
		t.Fatalf("Legacy() = %q, want Kubenet: b is not allocated", got)
	}
	s.ObserveNode(NodeConfig{Name: "a", Mode: v1.ModeOverlay, Allocated: true})
	if got := s.Facts().Legacy(); got != v1.ModeOverlay {
		t.Fatalf("Legacy() = %q after a moved to Overlay", got)
	}
	s.ForgetNode("a")
	if got := s.Facts().Legacy(); got != "" {
		t.Fatalf("Legacy() = %q with nothing allocated", got)
	}
}

func TestReserveAddrSkipsCloudAndNodeAddresses(t *testing.T) {
	s := New()
	c := claimOf("10.1.0.5/32", "a", "uid-a")
	s.Load([]v1.BlockClaim{c}, nil)
	subnet := netip.MustParsePrefix("10.1.0.0/29")
	node := netip.MustParseAddr("10.1.0.4")
	var got []string
	for {
		a, err := s.ReserveAddr(subnet, func(a netip.Addr) bool { return a == node })
		if errors.Is(err, ipam.ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	// .0-.3 are the cloud's, .7 the broadcast, .4 the node's, .5 claimed.
	if diff := cmp.Diff([]string{"10.1.0.6"}, got); diff != "" {
		t.Fatalf("ReserveAddr (-want +got):\n%s", diff)
	}
}

// TestReserveAddrInHugeSubnetsIsCheap proves that the work is proportional to the
// addresses reserved: 250 addresses of a /8 and of an IPv6 /64 take 250 steps each (a walk
// over the subnet would never end); BenchmarkReserveAddr prints the cost.
func TestReserveAddrInHugeSubnetsIsCheap(t *testing.T) {
	for _, subnet := range []string{"10.0.0.0/8", "fd00:1::/64"} {
		s := New()
		s.Load(nil, nil)
		calls := 0
		p := netip.MustParsePrefix(subnet)
		for i := range 250 {
			a, err := s.ReserveAddr(p, func(netip.Addr) bool { calls++; return false })
			if err != nil {
				t.Fatal(err)
			}
			if want := p.Addr().Next().Next().Next().Next(); i == 0 && a != want {
				t.Fatalf("first address %s, want %s", a, want)
			}
		}
		if calls != 250 {
			t.Fatalf("%s: %d node-address checks for 250 addresses, want 250", subnet, calls)
		}
		if free := s.FreeAddrs(p); free.Sign() <= 0 {
			t.Fatalf("%s: FreeAddrs = %v", subnet, free)
		}
	}
}

func BenchmarkReserveAddr(b *testing.B) {
	for _, subnet := range []string{"10.1.0.0/24", "10.0.0.0/8", "fd00:1::/64"} {
		b.Run(subnet, func(b *testing.B) {
			p := netip.MustParsePrefix(subnet)
			for b.Loop() {
				s := New()
				s.Load(nil, nil)
				for range 250 {
					if _, err := s.ReserveAddr(p, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/250, "ns/addr")
		})
	}
}

func TestCountsFollowEvents(t *testing.T) {
	s := New()
	s.Load(nil, []NodeConfig{{Name: "a", Mode: v1.ModeKubenet, Allocated: true, Programmed: true}})
	s.ObserveLiveNode("a")
	s.ObserveLiveNode("b")
	s.ObserveNode(NodeConfig{Name: "b", Mode: v1.ModeKubenet, Allocated: true})
	s.Wait("c")
	s.Wait("b")
	want := Counts{Nodes: 2, Allocated: 2, Programmed: map[v1.NetworkMode]int{v1.ModeKubenet: 1}, Waiting: 2, FirstWaiting: []string{"b", "c"}}
	if diff := cmp.Diff(want, s.Counts()); diff != "" {
		t.Fatalf("Counts (-want +got):\n%s", diff)
	}
	// a moves to Overlay and programs it; b is deleted; the same event twice counts once.
	for range 2 {
		s.ObserveNode(NodeConfig{Name: "a", Mode: v1.ModeOverlay, Allocated: true, Programmed: true})
	}
	s.ForgetNode("b")
	s.ForgetLiveNode("b")
	s.Unwait("b")
	want = Counts{Nodes: 1, Allocated: 1, Programmed: map[v1.NetworkMode]int{v1.ModeOverlay: 1}, Waiting: 1, FirstWaiting: []string{"c"}}
	if diff := cmp.Diff(want, s.Counts()); diff != "" {
		t.Fatalf("Counts after the move (-want +got):\n%s", diff)
	}
}
