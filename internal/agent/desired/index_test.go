package desired

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// fullResult is what the agent computed before the index: Compute over every object, then
// Encapsulate when the uplink is known.
func fullResult(self *v1alpha1.NodeNetworkConfig, all []v1alpha1.NodeNetworkConfig, c *Cluster, leases []netip.Addr, enc Encapsulation) (*Result, error) {
	res, err := Compute(self, all, c, leases, CNIOptions{})
	if err != nil {
		return nil, err
	}
	if enc.Known {
		paths, warnings := Encapsulate(&res.Datapath, self, enc.CrossSubnet, enc.Underlay)
		res.Paths = paths
		res.Warnings = append(res.Warnings, warnings...)
	} else {
		nodes := map[string]bool{}
		for _, r := range res.Datapath.Routes {
			nodes[r.Node] = true
		}
		res.Paths = Paths{Direct: len(nodes)}
	}
	return res, nil
}

var indexCmp = []cmp.Option{equateNetip, cmpopts.EquateEmpty()}

// diff is cmp.Diff with a fast path: printed alike (nil and empty slices print alike), the
// values are equal. cmp alone makes the random tests 20 times slower.
func diff(want, got any) string {
	if fmt.Sprintf("%+v", want) == fmt.Sprintf("%+v", got) {
		return ""
	}
	return cmp.Diff(want, got, indexCmp...)
}

// randomPeers changes a small cluster at random, with few names, addresses and blocks, so
// that peers keep claiming each other's node IPs and blocks, breaking rules and ageing in
// ties; it returns the objects after each change.
type randomPeers struct {
	r                *rand.Rand
	names            []string
	blocks, nodeIPs  []string
	objs             map[string]v1alpha1.NodeNetworkConfig
	rv               int
	template         func(name string) v1alpha1.NodeNetworkConfig
	deletingSometime bool
	// least is the fewest blocks and node IPs a status holds.
	least int
}

func (g *randomPeers) pick(from []string, most int) []string {
	n := g.least + g.r.IntN(most+1-g.least)
	out := make([]string, 0, n)
	for range n {
		out = append(out, from[g.r.IntN(len(from))])
	}
	return out
}

// step changes one peer and returns what the index is told.
func (g *randomPeers) step(x *PeerIndex) string {
	name := g.names[g.r.IntN(len(g.names))]
	g.rv++
	switch op := g.r.IntN(10); {
	case op < 6:
		o := g.template(name)
		o.UID = types.UID("uid-" + name + "-" + strconv.Itoa(g.r.IntN(2)))
		o.ResourceVersion = strconv.Itoa(g.rv)
		o.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(g.r.IntN(4)) * time.Minute))
		o.Spec.PodCIDRs = g.pick(g.blocks, 2)
		o.Spec.NodeIPs = g.pick(g.nodeIPs, 2)
		g.objs[name] = o
		x.Set(&o)
		return fmt.Sprintf("set %s %v %v age %v", name, o.Spec.PodCIDRs, o.Spec.NodeIPs, o.CreationTimestamp.Sub(t0))
	case op < 7:
		o, ok := g.objs[name]
		if !ok {
			return "nothing"
		}
		x.Set(&o) // the same version again: nothing changes
		return "same " + name
	case op < 8 && g.deletingSometime:
		o, ok := g.objs[name]
		if !ok {
			return "nothing"
		}
		now := metav1.NewTime(t0)
		o.DeletionTimestamp = &now
		o.ResourceVersion = strconv.Itoa(g.rv)
		g.objs[name] = o // Compute ignores objects being deleted
		x.Set(&o)
		return "deleting " + name
	default:
		delete(g.objs, name)
		x.Remove(name)
		return "remove " + name
	}
}

func (g *randomPeers) all(self *v1alpha1.NodeNetworkConfig) []v1alpha1.NodeNetworkConfig {
	out := []v1alpha1.NodeNetworkConfig{*self}
	for _, n := range g.names {
		if o, ok := g.objs[n]; ok {
			out = append(out, o)
		}
	}
	return out
}

// checkIndex compares the index with the full computation after every change, and the
// Delta with the difference of the two full datapaths.
func checkIndex(t *testing.T, seed uint64, steps int, self func(step int) *v1alpha1.NodeNetworkConfig, cluster func(step int) *Cluster,
	leases []netip.Addr, enc func(step int) Encapsulation, g *randomPeers) {
	t.Helper()
	x := &PeerIndex{}
	var prev *Datapath
	var log []string
	deltas := 0
	defer func() {
		if !t.Failed() && deltas < steps/4 {
			t.Errorf("seed %d: only %d of %d steps took the incremental path", seed, deltas, steps)
		}
	}()
	for i := range steps {
		if i > 0 {
			log = append(log, g.step(x))
		}
		s, c, e := self(i), cluster(i), enc(i)
		want, wantErr := fullResult(s, g.all(s), c, leases, e)
		got, delta, err := x.Compute(s, c, leases, CNIOptions{}, e)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("seed %d step %d: error %v, full computation's %v\nchanges: %v", seed, i, err, wantErr, log)
		}
		if err != nil {
			prev = nil
			continue
		}
		dp := x.Datapath(got)
		if d := diff(want.Datapath, *dp); d != "" {
			t.Fatalf("seed %d step %d: datapath (-full +index):\n%s\nchanges: %v", seed, i, d, log)
		}
		if d := diff(want.Skipped, got.Skipped); d != "" {
			t.Fatalf("seed %d step %d: skipped (-full +index):\n%s\nchanges: %v", seed, i, d, log)
		}
		slices.Sort(want.Warnings)
		slices.Sort(got.Warnings)
		if d := diff(want.Warnings, got.Warnings); d != "" {
			t.Fatalf("seed %d step %d: warnings (-full +index):\n%s\nchanges: %v", seed, i, d, log)
		}
		if want.Paths != got.Paths {
			t.Fatalf("seed %d step %d: paths %+v, full computation's %+v\nchanges: %v", seed, i, got.Paths, want.Paths, log)
		}
		if d := diff(want.CNI, got.CNI); d != "" {
			t.Fatalf("seed %d step %d: CNI (-full +index):\n%s", seed, i, d)
		}
		if delta != nil {
			deltas++
			if prev == nil {
				t.Fatalf("seed %d step %d: a delta without a previous datapath", seed, i)
			}
			applied := *prev
			applied.Families = slices.Clone(prev.Families)
			applied.Tunnels = slices.Clone(prev.Tunnels)
			delta.ApplyTo(&applied)
			if d := diff(*dp, applied); d != "" {
				t.Fatalf("seed %d step %d: previous datapath + delta (-want +got):\n%s\ndelta %+v\nchanges: %v", seed, i, d, delta, log)
			}
		}
		prev = dp
	}
}

// TestPeerIndexMatchesCompute proves that the incremental computation equals the full
// one (B7, B8, B9): random joins, changes and leaves of peers that share node IPs and
// blocks, break rules and tie in age, under every crossSubnet setting, with the node's own
// status and the cluster's facts changing now and then.
func TestPeerIndexMatchesCompute(t *testing.T) {
	self, _ := encapCluster()
	moved := *self
	moved.Spec.NodeIPs = []string{"10.2.0.9", "fd00:1::4"}
	otherFacts := mustCluster(&v1alpha1.OverlayClusterStatus{
		Mode: v1alpha1.ModeOverlay,
		Pools: []v1alpha1.PoolStatus{
			{Family: v1alpha1.IPv4, CIDRs: []string{"10.244.0.0/16"}, BlockPrefixLength: 24},
			{Family: v1alpha1.IPv6, CIDRs: []string{"fd12:3456:789a::/64"}, BlockPrefixLength: 120},
		},
		NodeNetworkCIDRs:   []string{"10.1.0.0/24", "fd00:1::/64"}, // 10.2.0.0/24 leaves
		NonMasqueradeCIDRs: []string{"10.244.0.0/16", "fd12:3456:789a::/64"},
	})
	cs := func(m v1alpha1.CrossSubnetMode) Encapsulation {
		return Encapsulation{Known: true, CrossSubnet: netconf.CrossSubnet{Mode: m, Port: 4789, VNI: 7900}, Underlay: segmentA}
	}
	encs := map[string]Encapsulation{
		"unknown":     {},
		"direct":      cs(v1alpha1.CrossSubnetModeDirect),
		"crossSubnet": cs(v1alpha1.CrossSubnetModeCrossSubnet),
		"vxlan":       cs(v1alpha1.CrossSubnetModeVXLAN),
	}
	t.Run("B8 the peer index equals the full computation after every random change", func(t *testing.T) {
		matchesCompute(t, self, &moved, otherFacts, encs)
	})
}

func matchesCompute(t *testing.T, self, moved *v1alpha1.NodeNetworkConfig, otherFacts *Cluster, encs map[string]Encapsulation) {
	// Node IPs whose last bytes are equal mod 3 share a MAC, this node's included, so
	// that the MAC rule of Encapsulate is exercised too.
	collide := func(a netip.Addr) net.HardwareAddr {
		s := a.AsSlice()
		return net.HardwareAddr{0x02, 0x4f, 0, 0, 0, s[len(s)-1] % 3}
	}
	for name, enc := range encs {
		for _, macs := range []string{"MACs", "colliding MACs"} {
			t.Run(name+" "+macs, func(t *testing.T) {
				if macs != "MACs" {
					tunnelMAC = collide
					defer func() { tunnelMAC = TunnelMAC }()
				}
				for seed := range uint64(40) {
					g := &randomPeers{
						r:     rand.New(rand.NewPCG(seed, 14)),
						names: []string{"node-b", "node-c", "node-d", "node-e", "node-f", "node-0"},
						blocks: []string{"10.244.2.0/24", "10.244.3.0/24", "10.244.1.0/24", "fd12:3456:789a::200/120",
							"fd12:3456:789a::300/120", "10.244.2.0/25", "10.99.0.0/24", "junk", "fd12:3456:789a::100/120"},
						nodeIPs: []string{"10.1.0.5", "10.1.0.6", "10.2.0.4", "10.2.0.5", "10.1.0.4", "fd00:1::5",
							"fd00:2::4", "fd00:2::5", "10.9.9.9", "fd00:1::4", "10.2.0.9"},
						objs:             map[string]v1alpha1.NodeNetworkConfig{},
						template:         func(name string) v1alpha1.NodeNetworkConfig { return nnc(name, 0, nil, nil) },
						deletingSometime: true,
					}
					selfAt := func(i int) *v1alpha1.NodeNetworkConfig {
						if i/25%2 == 1 {
							return moved
						}
						return self
					}
					clusterAt := func(i int) *Cluster {
						if i/40%2 == 1 {
							return otherFacts
						}
						return encapTestCluster
					}
					encAt := func(i int) Encapsulation {
						if i/60%2 == 1 {
							return encs["crossSubnet"]
						}
						return enc
					}
					if macs != "MACs" {
						// Mostly legal statuses, so that many routes share MACs.
						g.least = 1
						g.blocks = []string{"10.244.2.0/24", "10.244.3.0/24", "10.244.4.0/24", "10.244.5.0/24",
							"fd12:3456:789a::200/120", "fd12:3456:789a::300/120", "fd12:3456:789a::400/120"}
						g.nodeIPs = []string{"10.1.0.5", "10.1.0.6", "10.1.0.7", "10.2.0.4", "10.2.0.5", "10.2.0.6",
							"fd00:1::5", "fd00:1::6", "fd00:2::4", "fd00:2::5"}
					}
					checkIndex(t, seed, 150, selfAt, clusterAt, nil, encAt, g)
				}
			})
		}
	}
}

// TestPeerIndexMatchesComputeNodeSubnet proves the same for a NodeSubnet node, whose
// reservation loses the addresses that peers hold as node IPs (R40), and for pods that
// kept addresses from an earlier mode (legacy leases, which peers' node IPs may hit).
func TestPeerIndexMatchesComputeNodeSubnet(t *testing.T) {
	self := nsNode("node-1", []string{"10.224.0.7-10.224.0.36"}, "10.224.0.4")
	overlay := nnc("node-1", 0, []string{"10.244.1.0/24"}, []string{"10.224.0.4"})
	leases := addrs("10.224.0.8", "10.224.0.40", "10.244.1.5")
	for seed := range uint64(60) {
		g := &randomPeers{
			r:       rand.New(rand.NewPCG(seed, 40)),
			names:   []string{"node-2", "node-3", "node-4", "node-5"},
			blocks:  []string{"10.244.2.0/24", "10.244.3.0/24", "10.244.1.0/24", "10.224.0.0/24"},
			nodeIPs: []string{"10.224.0.5", "10.224.0.6", "10.224.0.8", "10.224.0.9", "10.224.0.4", "10.224.0.40", "10.224.0.36"},
			objs:    map[string]v1alpha1.NodeNetworkConfig{},
			template: func(name string) v1alpha1.NodeNetworkConfig {
				return nsNode(name, []string{"10.224.0.37-10.224.0.66"}, "")
			},
		}
		selfAt := func(i int) *v1alpha1.NodeNetworkConfig {
			if i/30%2 == 1 {
				return &overlay
			}
			return &self
		}
		checkIndex(t, seed, 120, selfAt, func(int) *Cluster { return nsCluster }, leases, func(int) Encapsulation { return Encapsulation{} }, g)
	}
}

// fleet returns n peers with distinct blocks and node IPs of a /8 pod CIDR, as the manager
// writes them, and this node.
func fleet(n int) (*v1alpha1.NodeNetworkConfig, []v1alpha1.NodeNetworkConfig, *Cluster) {
	c := mustCluster(&v1alpha1.OverlayClusterStatus{
		Mode:             v1alpha1.ModeOverlay,
		Pools:            []v1alpha1.PoolStatus{{Family: v1alpha1.IPv4, CIDRs: []string{"10.0.0.0/8"}, BlockPrefixLength: 24}},
		NodeNetworkCIDRs: []string{"100.64.0.0/10"},
	})
	peer := func(i int) v1alpha1.NodeNetworkConfig {
		o := nnc(fmt.Sprintf("node-%05d", i), i, []string{fmt.Sprintf("10.%d.%d.0/24", i>>8, i&0xff)},
			[]string{fmt.Sprintf("100.64.%d.%d", i>>8, i&0xff+1)})
		o.UID, o.ResourceVersion = types.UID(o.Name), "1"
		return o
	}
	all := make([]v1alpha1.NodeNetworkConfig, n)
	for i := range all {
		all[i] = peer(i)
	}
	return &all[0], all, c
}

// TestPeerIndexWorkFollowsTheChange proves that a peer joining, changing or leaving costs
// the index the same whatever the cluster's size (B8): one status parsed, and only the
// peers that share a node IP with it checked again, at 100 peers as at 3,000.
func TestPeerIndexWorkFollowsTheChange(t *testing.T) {
	t.Run("B8 a peer change parses one status and checks only the peers sharing its node IP, at 100 peers as at 3,000", testPeerIndexWork)
}

func testPeerIndexWork(t *testing.T) {
	for _, n := range []int{100, 3000} {
		self, all, c := fleet(n)
		x := &PeerIndex{}
		x.Replace(all)
		if _, _, err := x.Compute(self, c, nil, CNIOptions{}, Encapsulation{}); err != nil {
			t.Fatal(err)
		}
		if w := x.Work(); w.Parsed != n-1 {
			t.Fatalf("%d peers: the first computation parsed %d statuses, want %d", n, w.Parsed, n-1)
		}
		change := func(what string, f func(), parsed, checked, blocks int, routes, removed int) {
			t.Helper()
			before := x.Work()
			f()
			_, d, err := x.Compute(self, c, nil, CNIOptions{}, Encapsulation{})
			if err != nil {
				t.Fatal(err)
			}
			w := x.Work()
			got := Work{Parsed: w.Parsed - before.Parsed, Checked: w.Checked - before.Checked, Blocks: w.Blocks - before.Blocks, Rebuilds: w.Rebuilds - before.Rebuilds}
			if want := (Work{Parsed: parsed, Checked: checked, Blocks: blocks}); got != want {
				t.Errorf("%d peers, %s: work %+v, want %+v", n, what, got, want)
			}
			if d == nil || len(d.Routes) != routes || len(d.RemovedRoutes) != removed {
				t.Errorf("%d peers, %s: delta %+v, want %d routes added and %d removed", n, what, d, routes, removed)
			}
		}
		joiner := nnc("joiner", 5000, []string{"10.200.0.0/24"}, []string{"100.100.0.1"})
		joiner.UID, joiner.ResourceVersion = "joiner", "1"
		change("a join", func() { x.Set(&joiner) }, 1, 1, 1, 1, 0)
		change("the same version again", func() { x.Set(&joiner) }, 0, 0, 0, 0, 0)
		// A twin claims the joiner's node IP with its own block: the older (the joiner)
		// keeps the address, the twin is skipped, and both are checked.
		twin := nnc("twin", 6000, []string{"10.201.0.0/24"}, []string{"100.100.0.1"})
		twin.UID, twin.ResourceVersion = "twin", "1"
		change("a twin of its node IP", func() { x.Set(&twin) }, 1, 2, 0, 0, 0)
		change("the joiner leaves, the twin takes its address", func() { x.Remove("joiner") }, 0, 2, 2, 1, 1)
		change("the twin leaves", func() { x.Remove("twin") }, 0, 1, 1, 0, 1)
	}
}

// BenchmarkPeerIndexJoinOf5000 measures a peer joining and leaving a cluster of 5,000
// through the index (compare BenchmarkComputeOnePeerChangedOf5000).
func BenchmarkPeerIndexJoinOf5000(b *testing.B) {
	self, all, c := fleet(5000)
	x := &PeerIndex{}
	x.Replace(all)
	if _, _, err := x.Compute(self, c, nil, CNIOptions{}, Encapsulation{}); err != nil {
		b.Fatal(err)
	}
	joiner := nnc("joiner", 9000, []string{"10.200.0.0/24"}, []string{"100.100.0.1"})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		joiner.ResourceVersion = strconv.Itoa(i)
		if i%2 == 0 {
			x.Set(&joiner)
		} else {
			x.Remove("joiner")
		}
		if _, _, err := x.Compute(self, c, nil, CNIOptions{}, Encapsulation{}); err != nil {
			b.Fatal(err)
		}
	}
}
