package desired

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// legalBlock is the rule for a peer's block (B7), written out again here, independently
// of checkBlock, so that the fuzzer checks Compute against the rule and not against itself.
func legalBlock(c *Cluster, p netip.Prefix) bool {
	if !p.IsValid() || p.Bits() == 0 || p.Addr().Is4In6() || p.Addr().Zone() != "" || p != p.Masked() {
		return false
	}
	for _, pool := range c.Pools {
		for _, cidr := range pool.CIDRs {
			if cidr.Addr().Is4() == p.Addr().Is4() && p.Bits() == pool.BlockBits && cidr.Bits() <= p.Bits() && cidr.Contains(p.Addr()) {
				return true
			}
		}
	}
	return false
}

// legalNodeIP is the rule for a peer's node IP (B7), written out again.
func legalNodeIP(c *Cluster, a netip.Addr) bool {
	if !a.IsValid() || a.Is4In6() || a.Zone() != "" || !a.IsGlobalUnicast() {
		return false
	}
	for _, p := range c.NodeNetwork {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parsePeerLines reads adversarial peers, one a line: "name|block,block|ip,ip|age".
func parsePeerLines(spec string) []v1alpha1.NodeNetworkConfig {
	var out []v1alpha1.NodeNetworkConfig
	for i, line := range strings.Split(spec, "\n") {
		if i >= 64 {
			break
		}
		f := strings.Split(line, "|")
		for len(f) < 4 {
			f = append(f, "")
		}
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		age := 0
		for _, r := range f[3] {
			age = (age*7 + int(r)) % 1000
		}
		n := nnc(fmt.Sprintf("fz%d-%s", i, f[0]), age, split(f[1]), split(f[2]))
		// Ages spread around the well-behaved peers' (t0 + 1 and 2 minutes).
		n.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(age) * time.Second))
		out = append(out, n)
	}
	return out
}

// FuzzComputeAdversarialPeers feeds Compute peers whose status says anything at all, next
// to two well-behaved ones, and checks that nothing outside B7's rules reaches the routes
// or the node-IP sets, that a peer breaking any rule gets no route at all, that routes
// never overlap each other or the node's own blocks, that
// no two peers' routes share a node IP, and that SNAT is never off for a whole family. The
// seed corpus is in testdata/fuzz/FuzzComputeAdversarialPeers.
func FuzzComputeAdversarialPeers(f *testing.F) {
	f.Add("evil|10.244.9.0/24|10.224.0.66|a")
	f.Add("evil|0.0.0.0/0,::/0|10.224.0.5,fd10:224::5|z")
	f.Fuzz(func(t *testing.T, spec string) {
		self := dual1
		all := append([]v1alpha1.NodeNetworkConfig{dual1, dual2, dual3}, parsePeerLines(spec)...)
		got, err := Compute(&self, all, testCluster, nil, CNIOptions{})
		if err != nil {
			t.Fatalf("Compute with adversarial peers: %v (a peer must never fail the node)", err)
		}
		checkIndexAgrees(t, &self, all, got)
		own := pfx("10.244.1.0/24", "fd12:3456:789a::100/120")
		ownIPs := addrs("10.224.0.4", "fd10:224::4")
		status := map[string]*v1alpha1.NodeNetworkConfigSpec{}
		for i := range all {
			if _, dup := status[all[i].Name]; !dup {
				status[all[i].Name] = &all[i].Spec
			}
		}
		via := map[netip.Addr]string{}
		for i, r := range got.Datapath.Routes {
			if !legalBlock(testCluster, r.Dst) {
				t.Errorf("B7 route to %s of %s: the block breaks the rules", r.Dst, r.Node)
			}
			if !legalNodeIP(testCluster, r.Via) || slices.Contains(ownIPs, r.Via) || r.Via.Is4() != r.Dst.Addr().Is4() {
				t.Errorf("B7 route to %s via %s of %s: the node IP breaks the rules", r.Dst, r.Via, r.Node)
			}
			if h, ok := via[r.Via]; ok && h != r.Node {
				t.Errorf("B7 node IP %s is the next hop of both %s and %s", r.Via, h, r.Node)
			}
			via[r.Via] = r.Node
			for _, o := range own {
				if o.Overlaps(r.Dst) {
					t.Errorf("route to %s of %s takes this node's block %s", r.Dst, r.Node, o)
				}
			}
			if i > 0 && got.Datapath.Routes[i-1].Dst.Overlaps(r.Dst) {
				t.Errorf("routes to %s and %s overlap", got.Datapath.Routes[i-1].Dst, r.Dst)
			}
			st, ok := status[r.Node]
			if !ok || !slices.Contains(st.PodCIDRs, r.Dst.String()) || !slices.ContainsFunc(st.NodeIPs, func(s string) bool { a, err := netip.ParseAddr(s); return err == nil && a == r.Via }) {
				t.Errorf("route %s via %s is not what %s's status says", r.Dst, r.Via, r.Node)
				continue
			}
			// A peer that breaks any rule is skipped whole.
			for _, s := range st.PodCIDRs {
				if p, err := netip.ParsePrefix(s); err != nil || !legalBlock(testCluster, p) {
					t.Errorf("B7 %s is routed although its block %q breaks the rules", r.Node, s)
				}
			}
			for _, s := range st.NodeIPs {
				if a, err := netip.ParseAddr(s); err != nil || !legalNodeIP(testCluster, a) || slices.Contains(ownIPs, a) {
					t.Errorf("B7 %s is routed although its node IP %q breaks the rules", r.Node, s)
				}
			}
		}
		for _, fr := range got.Datapath.Families {
			for _, a := range fr.NodeIPs {
				if !slices.Contains(ownIPs, a) && !legalNodeIP(testCluster, a) {
					t.Errorf("B7 R16 %s may reach pods, but it breaks the node IP rules", a)
				}
			}
			for _, p := range fr.ClusterPodCIDRs {
				if !slices.ContainsFunc(testCluster.PodCIDRs(), func(q netip.Prefix) bool { return q.Bits() <= p.Bits() && q.Contains(p.Addr()) }) {
					t.Errorf("B7 the pod space holds %s, outside the cluster's pod CIDRs", p)
				}
			}
			for _, p := range fr.NonMasquerade {
				if p.Bits() == 0 {
					t.Errorf("R15 %s traffic to %s keeps the pod source: SNAT is off", fr.Family, p)
				}
			}
		}
	})
}

// checkIndexAgrees checks that a PeerIndex fed all one by one decides what Compute decided
// (B8): the attacker's objects reach the index as they reach Compute. Names are unique in
// a cluster, so inputs that repeat one are left to Compute alone.
func checkIndexAgrees(t *testing.T, self *v1alpha1.NodeNetworkConfig, all []v1alpha1.NodeNetworkConfig, want *Result) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range all {
		if seen[o.Name] {
			return
		}
		seen[o.Name] = true
	}
	x := &PeerIndex{}
	for i := range all {
		o := all[i]
		o.ResourceVersion = fmt.Sprint(i + 1)
		x.Set(&o)
	}
	got, _, err := x.Compute(self, testCluster, nil, CNIOptions{}, Encapsulation{})
	if err != nil {
		t.Fatalf("the peer index failed where Compute did not: %v", err)
	}
	if d := diff(want.Datapath, *x.Datapath(got)); d != "" {
		t.Errorf("B8 the peer index's datapath differs from Compute's (-Compute +index):\n%s", d)
	}
	if d := diff(want.Skipped, got.Skipped); d != "" {
		t.Errorf("B8 the peer index skips other peers than Compute (-Compute +index):\n%s", d)
	}
	w := slices.Sorted(slices.Values(want.Warnings))
	if d := diff(w, got.Warnings); d != "" {
		t.Errorf("B8 the peer index warns otherwise than Compute (-Compute +index):\n%s", d)
	}
}
