// Package e2e proves the whole pod network in Linux network namespaces: the real manager
// allocates, three real node agents program their namespaces, and pods started through the
// reference CNI plugins talk to each other and to a host outside the cluster.
//
// It runs with `go test ./...` as root (CI runs it as root) and skips with the reason
// otherwise. It creates every namespace it uses (anonymous ones, see test/topology), never
// changes the host's namespace, sends no packet outside its namespaces, and checks that
// the host's named namespaces, links, routes and nftables ruleset are as they were.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/testenv"
	"github.com/overlaynet/overlaynet/test/harness"
	"github.com/overlaynet/overlaynet/test/topology"
)

// logs collects controller and agent logs; they are printed when a test fails.
var logs = &syncBuffer{}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(logs)))
	os.Exit(m.Run())
}

var (
	vnet4 = netip.MustParsePrefix("10.224.0.0/24")
	vnet6 = netip.MustParsePrefix("fd10:224::/64")
)

// metadata is a link-local service on the VNet, like a cloud's metadata endpoint.
var metadata = netip.MustParsePrefix("169.254.169.254/32")

const (
	probeTimeout = 2 * time.Second
	// smallPool's nodes have the minimum pod limit (R12).
	smallPool    = "small"
	smallMaxPods = 10
)

func TestPodNetworkInNamespaces(t *testing.T) {
	binDir := namespaceTest(t)
	for _, sc := range []struct {
		name string
		dual bool
		mode v1alpha1.NetworkMode
	}{
		{"IPv4", false, v1alpha1.ModeOverlay},
		{"dual-stack", true, v1alpha1.ModeOverlay},
		// Kubenet routes and NATs like Overlay (R30, R31), then migrates live (R51).
		{"Kubenet then Overlay", false, v1alpha1.ModeKubenet},
	} {
		t.Run(sc.name, func(t *testing.T) {
			runScenario(t, binDir, sc.dual, sc.mode)
		})
	}
	// NodeSubnet pods take VNet addresses (R40–R42), then migrate live (R50).
	t.Run("NodeSubnet then Overlay", func(t *testing.T) {
		runNodeSubnetScenario(t, binDir)
	})
}

// cluster is one scenario's running system.
type cluster struct {
	env    *testenv.Env
	topo   *topology.Topology
	agents map[string]*harness.Agent
	binDir string
	pods   map[string][]*topology.Pod // by node
}

// startCluster starts a scenario's local control plane, its three-node topology and the
// manager; everything is torn down at cleanup.
func startCluster(t *testing.T, binDir string, dual bool) (*cluster, *harness.Runner) {
	g := newG(t)
	ctx := context.Background()
	c := newCluster(t, binDir)
	env := c.env

	cfg := topology.Config{Nodes: []string{"node-1", "node-2", "node-3"}, VNet4: vnet4, WorkDir: t.TempDir()}
	if dual {
		cfg.VNet6 = vnet6
	}
	topo, err := topology.New(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(topo.Close()).To(Succeed()) })
	c.topo = topo

	runner := &harness.Runner{}
	t.Cleanup(func() { g.Expect(runner.Stop()).To(Succeed()) })
	g.Expect(runner.StartManager(ctx, env)).To(Succeed())
	return c, runner
}

// smallPoolSpec is the node pool of node-3, with the minimum pod limit (R12).
func smallPoolSpec() []v1alpha1.NodePool {
	return []v1alpha1.NodePool{{
		Name:         smallPool,
		NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pool": smallPool}},
		MaxPods:      ptr.To[int32](smallMaxPods),
	}}
}

// startNodes registers the topology's hosts as Nodes, node-3 in the small pool, and starts
// their agents.
func (c *cluster) startNodes(t *testing.T, runner *harness.Runner) {
	g := newG(t)
	ctx := context.Background()
	for _, h := range c.topo.Nodes {
		labels := map[string]string{}
		if h == c.topo.Nodes[2] {
			labels["pool"] = smallPool
		}
		g.Expect(harness.CreateNode(ctx, c.env.Client, h.Name, labels, h.Addrs)).To(Succeed())
	}
	for _, h := range c.topo.Nodes {
		a, err := runner.StartAgent(ctx, c.env, h, c.binDir)
		g.Expect(err).NotTo(HaveOccurred())
		c.agents[h.Name] = a
	}
}

func runScenario(t *testing.T, binDir string, dual bool, mode v1alpha1.NetworkMode) {
	g := newG(t)
	ctx := context.Background()
	c, runner := startCluster(t, binDir, dual)
	env, topo := c.env, c.topo

	// Something the agent does not own, on node-1: a static route and a table.
	node1, node2, node3 := topo.Nodes[0], topo.Nodes[1], topo.Nodes[2]
	foreign := addForeignState(t, node1, node2.Addr(v1alpha1.IPv4))

	ovc := &v1alpha1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterName},
		Spec: v1alpha1.OverlayClusterSpec{
			Mode:       mode,
			IPFamilies: c.topo.Families,
			VNetCIDRs:  []string{vnet4.String()},
			// A custom masquerade list that exempts link-local destinations: the agent
			// masquerades them anyway (R15, R54).
			AdditionalNonMasqueradeCIDRs: []string{desired.LinkLocalIPv4.String()},
			NodePools:                    smallPoolSpec(),
		},
	}
	if dual {
		ovc.Spec.VNetCIDRs = append(ovc.Spec.VNetCIDRs, vnet6.String())
	}
	g.Expect(env.Client.Create(ctx, ovc)).To(Succeed())
	c.startNodes(t, runner)

	perPeer := len(c.topo.Families)
	t.Run("the manager allocates and every agent reports Programmed next to Allocated", func(t *testing.T) {
		g := newG(t)
		for _, h := range topo.Nodes {
			g.Eventually(func(g Gomega) {
				nnc := c.nnc(g, h.Name)
				g.Expect(nnc.IsAllocated()).To(BeTrue(), "Allocated")
				p := meta.FindStatusCondition(nnc.Status.Conditions, v1alpha1.NodeProgrammed)
				g.Expect(p).NotTo(BeNil())
				g.Expect(p.Status).To(Equal(metav1.ConditionTrue), p.Message)
				g.Expect(p.ObservedGeneration).To(Equal(nnc.Generation))
				g.Expect(c.routes(g, h.Name)).To(HaveLen(2*perPeer), "routes of %s", h.Name)
			}).WithTimeout(90 * time.Second).Should(Succeed())
		}
	})
	if t.Failed() {
		return
	}

	t.Run("R15 each node routes every peer block via the peer's node IP, with no tunnel device", func(t *testing.T) {
		g := newG(t)
		for _, h := range topo.Nodes {
			var want []desired.Route
			for _, peer := range topo.Nodes {
				if peer == h {
					continue
				}
				for _, cidr := range c.nnc(g, peer.Name).Spec.PodCIDRs {
					dst := netip.MustParsePrefix(cidr)
					want = append(want, desired.Route{Dst: dst, Via: peer.Addr(familyOf(dst.Addr()))})
				}
			}
			g.Expect(c.routes(g, h.Name)).To(ConsistOf(want), "routes of %s", h.Name)
			g.Expect(linkKinds(g, h)).To(ConsistOf("device", "veth"), "links of %s", h.Name)
		}
	})

	c.startPodsAndExternal(t, metadata)

	t.Run("R15 a link-local destination is masqueraded although the non-masquerade list covers it", func(t *testing.T) {
		g := newG(t)
		for _, h := range topo.Nodes {
			from := c.pods[h.Name][0]
			g.Eventually(func() (netip.Addr, error) {
				return topology.Probe(ctx, from.NS, metadata.Addr(), probeTimeout)
			}).Should(Equal(h.Addr(v1alpha1.IPv4)), "%s -> %s", from.Name, metadata.Addr())
		}
	})

	for _, f := range c.topo.Families {
		t.Run(fmt.Sprintf("R15 %s pod to pod across nodes keeps the sender's pod IP", f), func(t *testing.T) {
			g := newG(t)
			for i, h := range topo.Nodes {
				peer := topo.Nodes[(i+1)%len(topo.Nodes)]
				for _, from := range c.pods[h.Name] {
					for _, to := range []*topology.Pod{c.pods[peer.Name][0], c.pods[h.Name][1]} {
						src, dst := from.IP(f), to.IP(f)
						g.Eventually(func() (netip.Addr, error) {
							return topology.Probe(ctx, from.NS, dst, probeTimeout)
						}).Should(Equal(src), "%s (%s) -> %s (%s)", from.Name, src, to.Name, dst)
					}
				}
			}
		})

		t.Run(fmt.Sprintf("R15 %s pod to a host outside the pod CIDRs is SNATed to its node's IP", f), func(t *testing.T) {
			g := newG(t)
			dst := topo.External.Addr(f)
			for _, h := range topo.Nodes {
				for _, from := range c.pods[h.Name] {
					g.Eventually(func() (netip.Addr, error) {
						return topology.Probe(ctx, from.NS, dst, probeTimeout)
					}).Should(Equal(h.Addr(f)), "%s -> external %s", from.Name, dst)
				}
			}
		})

		t.Run(fmt.Sprintf("R16 %s the external host cannot reach a pod IP, even routing the pod CIDR through a node", f), func(t *testing.T) {
			g := newG(t)
			pod := c.pods[node1.Name][0]
			dst := pod.IP(f)
			_, err := topology.Probe(ctx, topo.External.NS, dst, probeTimeout)
			g.Expect(topology.IsUnreachable(err)).To(BeTrue(), "the VNet routes no pod CIDR; got %v", err)

			live := &v1alpha1.OverlayCluster{}
			g.Expect(c.env.Client.Get(ctx, types.NamespacedName{Name: v1alpha1.ClusterName}, live)).To(Succeed())
			var cluster netip.Prefix
			for _, pool := range live.Status.Pools {
				if pool.Family == f {
					cluster = netip.MustParsePrefix(pool.CIDRs[0])
				}
			}
			g.Expect(cluster.IsValid()).To(BeTrue(), "no %s pool in the OverlayCluster status", f)
			g.Expect(topo.External.RouteVia(cluster, node1.Addr(f))).To(Succeed())
			drops := dropCount(g, node1, f)
			_, err = topology.Probe(ctx, topo.External.NS, dst, probeTimeout)
			g.Expect(topology.IsUnreachable(err)).To(BeTrue(), "node-1 forwarded the external host's connection; got %v", err)
			g.Expect(dropCount(g, node1, f)).To(BeNumerically(">", drops), "node-1's pod-ingress guard dropped it")
		})
	}

	t.Run("R12 a node with maxPods 10 refuses its 11th pod with a clear CNI error", func(t *testing.T) {
		g := newG(t)
		err := c.expectFull(t, node3)
		rng := desiredRange(g, c.nnc(g, node3.Name))
		g.Expect(err.Error()).To(ContainSubstring(rng), "the error names the node's %d-address range", smallMaxPods)

		// The limit is on addresses in use: one pod gone, the next one fits.
		last := c.pods[node3.Name][smallMaxPods-1]
		g.Expect(last.Delete(ctx)).To(Succeed())
		c.pods[node3.Name] = c.pods[node3.Name][:smallMaxPods-1]
		c.addPod(t, node3, "node-3-pod-replacement")
	})

	t.Run("deleting a Node removes its routes from the other nodes and nothing else", func(t *testing.T) {
		g := newG(t)
		gone := c.nnc(g, node2.Name).Spec.PodCIDRs
		g.Expect(harness.DeleteNode(ctx, env.Client, node2.Name)).To(Succeed())
		// envtest has no garbage collector; the controller deletes the NodeNetworkConfig
		// itself when the Node is gone, and the agents drop the peer from that event.
		g.Eventually(func() error {
			return env.Client.Get(ctx, types.NamespacedName{Name: node2.Name}, &v1alpha1.NodeNetworkConfig{})
		}).Should(MatchError(ContainSubstring("not found")))
		for _, h := range []*topology.Host{node1, node3} {
			g.Eventually(func(g Gomega) {
				var dsts []string
				for _, r := range c.routes(g, h.Name) {
					dsts = append(dsts, r.Dst.String())
				}
				g.Expect(dsts).To(HaveLen(perPeer), "%s keeps one route per family, to the remaining peer", h.Name)
				for _, cidr := range gone {
					g.Expect(dsts).NotTo(ContainElement(cidr))
				}
			}).Should(Succeed())
		}
		// The remaining nodes still reach each other.
		for _, f := range c.topo.Families {
			from, to := c.pods[node1.Name][0], c.pods[node3.Name][0]
			g.Eventually(func() (netip.Addr, error) {
				return topology.Probe(ctx, from.NS, to.IP(f), probeTimeout)
			}).Should(Equal(from.IP(f)))
		}
		g.Eventually(func(g Gomega) {
			g.Expect(c.routes(g, node1.Name)).To(HaveLen(perPeer))
		}).Should(Succeed())
	})

	t.Run("the agent never touched the route and table it does not own", func(t *testing.T) {
		foreign.check(newG(t))
	})

	if mode == v1alpha1.ModeKubenet {
		t.Run("R51 a live Kubenet to Overlay migration keeps every block and pod-to-pod connectivity", func(t *testing.T) {
			c.migrateToOverlay(t, []*topology.Host{node1, node3})
		})
	}
}

// migrateToOverlay switches the cluster to Overlay and proves that the migration completes
// (every node allocated and programmed, route table retired), that no block moved, and
// that pods on the given nodes still reach each other with their own addresses.
func (c *cluster) migrateToOverlay(t *testing.T, nodes []*topology.Host) {
	g := newG(t)
	ctx := context.Background()
	before := map[string][]string{}
	var running []*topology.Pod
	for _, h := range nodes {
		before[h.Name] = c.nnc(g, h.Name).Spec.PodCIDRs
		running = append(running, c.pods[h.Name][0])
	}
	ring := startRingProbe(running)
	g.Eventually(func(g Gomega) {
		ovc := &v1alpha1.OverlayCluster{}
		g.Expect(c.env.Client.Get(ctx, types.NamespacedName{Name: v1alpha1.ClusterName}, ovc)).To(Succeed())
		g.Expect(ovc.Status.RouteTable).NotTo(BeNil(), "Kubenet publishes its route table (R31)")
		g.Expect(ovc.Status.RouteTable.Entries).To(HaveLen(len(nodes)))
		ovc.Spec.Mode = v1alpha1.ModeOverlay
		g.Expect(c.env.Client.Update(ctx, ovc)).To(Succeed())
	}).Should(Succeed())
	c.awaitMigration(g, nodes, func(g Gomega, ovc *v1alpha1.OverlayCluster) {
		g.Expect(ovc.Status.RouteTable).To(BeNil(), "the route table is retired")
	}, func(g Gomega, h *topology.Host, nnc *v1alpha1.NodeNetworkConfig) {
		g.Expect(nnc.Spec.Mode).To(Equal(v1alpha1.ModeOverlay))
		g.Expect(nnc.Spec.PodCIDRs).To(Equal(before[h.Name]), "R51: the block of %s moved", h.Name)
	})
	ring.stopAndCheck(t, g)
	for _, h := range nodes {
		// R15 still holds for the running pods once the cluster is Overlay.
		from, dst := c.pods[h.Name][0], c.topo.External.Addr(v1alpha1.IPv4)
		g.Eventually(func() (netip.Addr, error) {
			return topology.Probe(ctx, from.NS, dst, probeTimeout)
		}).Should(Equal(h.Addr(v1alpha1.IPv4)), "after the migration: %s -> external %s", from.Name, dst)
	}
	for _, h := range nodes {
		for _, peer := range nodes {
			if peer == h {
				continue
			}
			from, to := c.pods[h.Name][0], c.pods[peer.Name][0]
			src, dst := from.IP(v1alpha1.IPv4), to.IP(v1alpha1.IPv4)
			g.Eventually(func() (netip.Addr, error) {
				return topology.Probe(ctx, from.NS, dst, probeTimeout)
			}).Should(Equal(src), "after the migration: %s (%s) -> %s (%s)", from.Name, src, to.Name, dst)
		}
	}
}

// startPodsAndExternal starts two pods on every node and the external host's echo
// server, and gives the external host an extra address that the nodes route out of their
// VNet interface.
func (c *cluster) startPodsAndExternal(t *testing.T, extra netip.Prefix) {
	g := newG(t)
	for _, h := range c.topo.Nodes {
		for i := range 2 {
			c.addPod(t, h, fmt.Sprintf("%s-pod-%d", h.Name, i))
		}
	}
	external, err := topology.Serve(c.topo.External.NS)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = external.Close() })
	g.Expect(c.topo.External.AddAddr(extra)).To(Succeed())
	for _, h := range c.topo.Nodes {
		g.Expect(h.RouteOnLink(extra)).To(Succeed())
	}
}

// awaitMigration waits until the OverlayCluster reports its migration to Overlay complete
// and the agent of every node programmed the node's Overlay generation, with the
// scenario's own expectations of the cluster and of each node.
func (c *cluster) awaitMigration(g *WithT, nodes []*topology.Host, checkCluster func(Gomega, *v1alpha1.OverlayCluster), checkNode func(Gomega, *topology.Host, *v1alpha1.NodeNetworkConfig)) {
	g.Eventually(func(g Gomega) {
		ovc := &v1alpha1.OverlayCluster{}
		g.Expect(c.env.Client.Get(context.Background(), types.NamespacedName{Name: v1alpha1.ClusterName}, ovc)).To(Succeed())
		m := meta.FindStatusCondition(ovc.Status.Conditions, v1alpha1.ClusterMigrating)
		g.Expect(m).NotTo(BeNil())
		g.Expect(m.Reason).To(Equal("MigrationComplete"), m.Message)
		g.Expect(ovc.Status.Mode).To(Equal(v1alpha1.ModeOverlay))
		checkCluster(g, ovc)
		for _, h := range nodes {
			nnc := c.nnc(g, h.Name)
			p := meta.FindStatusCondition(nnc.Status.Conditions, v1alpha1.NodeProgrammed)
			g.Expect(p).NotTo(BeNil())
			g.Expect(p.Status).To(Equal(metav1.ConditionTrue), p.Message)
			g.Expect(p.ObservedGeneration).To(Equal(nnc.Generation), "%s programmed the Overlay generation", h.Name)
			checkNode(g, h, nnc)
		}
	}).Should(Succeed())
}

// expectFull starts pods on h up to smallMaxPods and expects the CNI ADD of one more to
// fail for want of an address; it returns that error.
func (c *cluster) expectFull(t *testing.T, h *topology.Host) error {
	t.Helper()
	g := newG(t)
	for i := len(c.pods[h.Name]); i < smallMaxPods; i++ {
		c.addPod(t, h, fmt.Sprintf("%s-pod-%d", h.Name, i))
	}
	_, err := h.AddPod(context.Background(), c.binDir, h.Name+"-pod-eleventh")
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("no IP addresses available in range set"))
	return err
}

// newG returns a Gomega whose Eventually waits long enough for a loaded CI machine.
func newG(t *testing.T) *WithT {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(60 * time.Second)
	g.SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	return g
}

// addPod starts a pod with an echo server, deleted (through CNI) at cleanup.
func (c *cluster) addPod(t *testing.T, h *topology.Host, name string) {
	t.Helper()
	g := newG(t)
	p, err := h.AddPod(context.Background(), c.binDir, name)
	g.Expect(err).NotTo(HaveOccurred())
	srv, err := topology.Serve(p.NS)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() {
		_ = srv.Close()
		if err := p.Delete(context.Background()); err != nil {
			t.Errorf("deleting pod %s: %v", p.Name, err)
		}
	})
	g.Expect(p.IPs).To(HaveLen(len(c.topo.Families)), "one address per family")
	c.pods[h.Name] = append(c.pods[h.Name], p)
}

func (c *cluster) nnc(g Gomega, name string) *v1alpha1.NodeNetworkConfig {
	nnc := &v1alpha1.NodeNetworkConfig{}
	g.Expect(c.env.Client.Get(context.Background(), types.NamespacedName{Name: name}, nnc)).To(Succeed())
	return nnc
}

func (c *cluster) routes(g Gomega, node string) []desired.Route {
	rs, err := c.agents[node].Backend.OwnedRoutes()
	g.Expect(err).NotTo(HaveOccurred())
	return rs
}

// desiredRange is the host-local range the node's IPv4 block should have: maxPods addresses
// from the second host on (R12).
func desiredRange(g Gomega, nnc *v1alpha1.NodeNetworkConfig) string {
	cni, _, err := desired.BuildCNI([]netip.Prefix{netip.MustParsePrefix(nnc.Spec.PodCIDRs[0])}, int(nnc.Spec.MaxPods), desired.CNIOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	r := cni.Ranges[0]
	return fmt.Sprintf("%s-%s", r.Start, r.End)
}

// linkKinds returns the distinct link types of a node: eth0 and lo are "device", pods'
// host ends are "veth"; a vxlan, geneve or ipip device would show up here.
func linkKinds(g Gomega, h *topology.Host) []string {
	nl, err := netlink.NewHandleAt(h.NS, unix.NETLINK_ROUTE)
	g.Expect(err).NotTo(HaveOccurred())
	defer nl.Close()
	links, err := nl.LinkList()
	g.Expect(err).NotTo(HaveOccurred())
	seen := map[string]bool{}
	var out []string
	for _, l := range links {
		kind := l.Type()
		if l.Attrs().Name == "eth0" {
			kind = "device" // the node's interface on the VNet: a veth to the bridge
		}
		if !seen[kind] {
			seen[kind] = true
			out = append(out, kind)
		}
	}
	if !seen["veth"] {
		out = append(out, "veth") // no pod yet
	}
	return out
}

// dropCount reads the counter of the node's pod-ingress guard for a family.
func dropCount(g Gomega, h *topology.Host, f v1alpha1.IPFamily) uint64 {
	conn, err := nftables.New(nftables.WithNetNSFd(int(h.NS)))
	g.Expect(err).NotTo(HaveOccurred())
	table := &nftables.Table{Name: linux.TableName, Family: nftables.TableFamilyINet}
	chain := "pod-ingress-v4"
	if f == v1alpha1.IPv6 {
		chain = "pod-ingress-v6"
	}
	rules, err := conn.GetRules(table, &nftables.Chain{Name: chain, Table: table})
	g.Expect(err).NotTo(HaveOccurred())
	for _, r := range rules {
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				return ctr.Packets
			}
		}
	}
	g.Expect(false).To(BeTrue(), "no counter in %s", chain)
	return 0
}

// foreignState is a route and a table on a node that belong to someone else.
type foreignState struct {
	host  *topology.Host
	route *netlink.Route
}

func addForeignState(t *testing.T, h *topology.Host, via netip.Addr) *foreignState {
	t.Helper()
	g := newG(t)
	nl, err := netlink.NewHandleAt(h.NS, unix.NETLINK_ROUTE)
	g.Expect(err).NotTo(HaveOccurred())
	defer nl.Close()
	dst, _ := netlink.ParseIPNet("192.168.77.0/24")
	fs := &foreignState{host: h, route: &netlink.Route{Dst: dst, Gw: via.AsSlice(), Protocol: unix.RTPROT_STATIC}}
	g.Expect(nl.RouteAdd(fs.route)).To(Succeed())
	conn, err := nftables.New(nftables.WithNetNSFd(int(h.NS)))
	g.Expect(err).NotTo(HaveOccurred())
	conn.AddTable(&nftables.Table{Name: "someone-else", Family: nftables.TableFamilyINet})
	g.Expect(conn.Flush()).To(Succeed())
	return fs
}

func (fs *foreignState) check(g Gomega) {
	nl, err := netlink.NewHandleAt(fs.host.NS, unix.NETLINK_ROUTE)
	g.Expect(err).NotTo(HaveOccurred())
	defer nl.Close()
	rs, err := nl.RouteListFiltered(netlink.FAMILY_V4, fs.route, netlink.RT_FILTER_DST|netlink.RT_FILTER_PROTOCOL)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rs).To(HaveLen(1), "the static route 192.168.77.0/24 is still there")
	conn, err := nftables.New(nftables.WithNetNSFd(int(fs.host.NS)))
	g.Expect(err).NotTo(HaveOccurred())
	_, err = conn.ListTableOfFamily("someone-else", nftables.TableFamilyINet)
	g.Expect(err).NotTo(HaveOccurred(), "the table inet someone-else is still there")
}

func familyOf(a netip.Addr) v1alpha1.IPFamily {
	if a.Is4() {
		return v1alpha1.IPv4
	}
	return v1alpha1.IPv6
}

// namespaceTest starts a namespace end-to-end test: it skips unless root (the test creates
// network namespaces), checks at the end that the host's namespaces, links, routes and
// nftables are as they were (a cleanup registered first, so it runs after every other), and
// returns the directory of the CNI plugins.
func namespaceTest(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping the namespace end-to-end test: it creates network namespaces and needs root (CI runs it as root)")
	}
	before, err := topology.SnapshotHost()
	if err != nil {
		t.Fatalf("snapshotting the host: %v", err)
	}
	t.Cleanup(func() {
		after, err := topology.SnapshotHost()
		if err != nil {
			t.Errorf("snapshotting the host: %v", err)
			return
		}
		if diff := cmp.Diff(before.String(), after.String()); diff != "" {
			t.Errorf("the host's namespaces, links, routes or nftables changed (-before +after):\n%s", diff)
		}
	})
	binDir, err := harness.CNIPluginsDir()
	if err != nil {
		t.Fatal(err)
	}
	return binDir
}

// newCluster starts a scenario's local control plane, stopped at cleanup, and prints the
// manager's and agents' logs when the test failed.
func newCluster(t *testing.T, binDir string) *cluster {
	t.Helper()
	g := newG(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("manager and agent logs:\n%s", logs.String())
		}
	})
	env, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })
	return &cluster{env: env, binDir: binDir, agents: map[string]*harness.Agent{}, pods: map[string][]*topology.Pod{}}
}
