package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/nodesubnet"
	"github.com/overlaynet/overlaynet/test/topology"
)

// internet is a destination outside the VNet. The external host holds it, and the nodes
// route it out of their VNet interface, as a cloud's default route would.
var internet = netip.MustParsePrefix("198.51.100.1/32")

// maxMigrationGap bounds how long a running pod may go without reaching its peers while
// the cluster migrates.
const maxMigrationGap = 10 * time.Second

// runNodeSubnetScenario proves the legacy node-subnet model in namespaces (R40–R42) and a
// live migration from it to Overlay (R50): pods take the node's reserved VNet addresses,
// keep them inside the VNet and are SNATed outside it; after the migration the pods that
// were running keep working, and new pods take Overlay addresses.
func runNodeSubnetScenario(t *testing.T, binDir string) {
	g := newG(t)
	ctx := context.Background()
	c, runner := startCluster(t, binDir, false)
	topo := c.topo
	node1, node2, node3 := topo.Nodes[0], topo.Nodes[1], topo.Nodes[2]

	ovc := &v1alpha1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterName},
		Spec: v1alpha1.OverlayClusterSpec{
			Mode:       v1alpha1.ModeNodeSubnet,
			IPFamilies: c.topo.Families,
			VNetCIDRs:  []string{vnet4.String()},
			NodePools:  smallPoolSpec(),
		},
	}
	// The cloud assigns node addresses in the node subnet, and the controller cannot know
	// those of nodes that do not exist yet: a reservation made before a node registers
	// gives that node's address up again when it does (R40). Here the cluster exists
	// before overlaynet is installed, as when it replaces a cluster's network.
	c.startNodes(t, runner)
	g.Expect(c.env.Client.Create(ctx, ovc)).To(Succeed())

	t.Run("R40 every node reserves its addresses and its agent reports Programmed", func(t *testing.T) {
		g := newG(t)
		for _, h := range topo.Nodes {
			want := 30 // R41 default
			if h == node3 {
				want = smallMaxPods
			}
			g.Eventually(func(g Gomega) {
				nnc := c.nnc(g, h.Name)
				g.Expect(nnc.IsAllocated()).To(BeTrue(), "Allocated")
				g.Expect(nnc.Spec.NodeSubnet).To(Equal(vnet4.String()))
				runs, err := nodesubnet.ParseReserved(nnc.Spec.ReservedIPs)
				g.Expect(err).NotTo(HaveOccurred())
				for _, r := range runs {
					for _, n := range topo.Nodes {
						g.Expect(r.Contains(n.Addr(v1alpha1.IPv4))).To(BeFalse(), "R40: %s reserves %s's address", h.Name, n.Name)
					}
				}
				p := meta.FindStatusCondition(nnc.Status.Conditions, v1alpha1.NodeProgrammed)
				g.Expect(p).NotTo(BeNil())
				g.Expect(p.Status).To(Equal(metav1.ConditionTrue), p.Message)
				g.Expect(p.ObservedGeneration).To(Equal(nnc.Generation))
				g.Expect(c.routes(g, h.Name)).To(BeEmpty(), "R40: the VNet, not a route, reaches node-subnet pods")
				g.Expect(p.Message).To(HaveSuffix(fmt.Sprintf("from the %d reserved addresses of node subnet %s", want, vnet4)))
			}).WithTimeout(90 * time.Second).Should(Succeed())
		}
	})
	if t.Failed() {
		return
	}

	c.startPodsAndExternal(t, internet)

	t.Run("R40 pods take only their node's reserved addresses", func(t *testing.T) {
		g := newG(t)
		for _, h := range topo.Nodes {
			runs, err := nodesubnet.ParseReserved(c.nnc(g, h.Name).Spec.ReservedIPs)
			g.Expect(err).NotTo(HaveOccurred())
			for _, p := range c.pods[h.Name] {
				ip := p.IP(v1alpha1.IPv4)
				g.Expect(vnet4.Contains(ip)).To(BeTrue(), "%s has %s, outside the node subnet", p.Name, ip)
				reserved := false
				for _, r := range runs {
					reserved = reserved || r.Contains(ip)
				}
				g.Expect(reserved).To(BeTrue(), "R40: %s has %s, not one of %s's reserved addresses", p.Name, ip, h.Name)
			}
		}
	})

	t.Run("R42 pod to pod across nodes keeps the sender's VNet address", func(t *testing.T) {
		c.expectPodToPod(newG(t), topo.Nodes, func(from, _ *topology.Pod) netip.Addr { return from.IP(v1alpha1.IPv4) })
	})

	t.Run("R42 a host inside the VNet sees the pod's address and reaches the pod directly", func(t *testing.T) {
		g := newG(t)
		for _, h := range topo.Nodes {
			pod := c.pods[h.Name][0]
			src := pod.IP(v1alpha1.IPv4)
			g.Eventually(func() (netip.Addr, error) {
				return topology.Probe(ctx, pod.NS, topo.External.Addr(v1alpha1.IPv4), probeTimeout)
			}).Should(Equal(src), "%s -> the VNet host", pod.Name)
			g.Eventually(func() (netip.Addr, error) {
				return topology.Probe(ctx, topo.External.NS, src, probeTimeout)
			}).Should(Equal(topo.External.Addr(v1alpha1.IPv4)), "the VNet host -> %s (%s)", pod.Name, src)
		}
	})

	t.Run("R42 traffic leaving the VNet is SNATed to the node's IP", func(t *testing.T) {
		g := newG(t)
		for _, h := range topo.Nodes {
			for _, pod := range c.pods[h.Name] {
				g.Eventually(func() (netip.Addr, error) {
					return topology.Probe(ctx, pod.NS, internet.Addr(), probeTimeout)
				}).Should(Equal(h.Addr(v1alpha1.IPv4)), "%s -> %s", pod.Name, internet.Addr())
			}
		}
	})

	t.Run("R41 a node with maxPods 10 refuses its 11th pod: the reservation is the limit", func(t *testing.T) {
		c.expectFull(t, node3)
	})
	if t.Failed() {
		return
	}

	t.Run("R50 a live NodeSubnet to Overlay migration keeps the running pods connected", func(t *testing.T) {
		g := newG(t)
		legacy := []*topology.Pod{c.pods[node1.Name][0], c.pods[node2.Name][0], c.pods[node3.Name][0]}

		ring := startRingProbe(legacy)
		g.Eventually(func(g Gomega) {
			ovc := &v1alpha1.OverlayCluster{}
			g.Expect(c.env.Client.Get(ctx, types.NamespacedName{Name: v1alpha1.ClusterName}, ovc)).To(Succeed())
			ovc.Spec.Mode = v1alpha1.ModeOverlay
			g.Expect(c.env.Client.Update(ctx, ovc)).To(Succeed())
		}).Should(Succeed())
		c.awaitMigration(g, topo.Nodes, func(Gomega, *v1alpha1.OverlayCluster) {}, func(g Gomega, h *topology.Host, nnc *v1alpha1.NodeNetworkConfig) {
			g.Expect(nnc.Spec.PodCIDRs).To(HaveLen(1), "%s has its Overlay block", h.Name)
			g.Expect(nnc.Spec.ReservedIPs).To(BeEmpty(), "%s released its reservation", h.Name)
			g.Expect(c.routes(g, h.Name)).To(HaveLen(2), "%s routes both peers' blocks", h.Name)
		})
		ring.stopAndCheck(t, g)
		// Forget what ARP learned before the migration, so that what follows depends on
		// the nodes answering for their running pods now, not on caches.
		for _, h := range slices.Concat(topo.Nodes, []*topology.Host{topo.External}) {
			g.Expect(h.FlushNeighbors()).To(Succeed())
		}

		// The running pods reach each other; their node-subnet addresses are not pod
		// sources the peers' guards know, so they leave as their node (R16).
		c.expectPodToPod(g, topo.Nodes, func(from, _ *topology.Pod) netip.Addr { return from.Node.Addr(v1alpha1.IPv4) })

		// New pods take Overlay addresses and reach old and new pods.
		fresh := map[string]*topology.Pod{}
		for _, h := range topo.Nodes {
			c.addPod(t, h, h.Name+"-overlay")
			p := c.pods[h.Name][len(c.pods[h.Name])-1]
			block := netip.MustParsePrefix(c.nnc(g, h.Name).Spec.PodCIDRs[0])
			g.Expect(block.Contains(p.IP(v1alpha1.IPv4))).To(BeTrue(), "%s has %s, outside its block %s", p.Name, p.IPs, block)
			fresh[h.Name] = p
		}
		for i, h := range topo.Nodes {
			peer := topo.Nodes[(i+1)%len(topo.Nodes)]
			from := fresh[h.Name]
			src := from.IP(v1alpha1.IPv4)
			for _, to := range []*topology.Pod{fresh[peer.Name], c.pods[h.Name][0]} {
				g.Eventually(func() (netip.Addr, error) {
					return topology.Probe(ctx, from.NS, to.IP(v1alpha1.IPv4), probeTimeout)
				}).Should(Equal(src), "R15 %s -> %s keeps the pod IP", from.Name, to.Name)
			}
			// A new pod reaching a running pod of another node leaves the pod space.
			old := c.pods[peer.Name][0]
			g.Eventually(func() (netip.Addr, error) {
				return topology.Probe(ctx, from.NS, old.IP(v1alpha1.IPv4), probeTimeout)
			}).Should(Equal(h.Addr(v1alpha1.IPv4)), "%s -> %s (running since before the migration)", from.Name, old.Name)
			g.Eventually(func() (netip.Addr, error) {
				return topology.Probe(ctx, old.NS, src, probeTimeout)
			}).Should(Equal(peer.Addr(v1alpha1.IPv4)), "%s (running since before the migration) -> %s", old.Name, from.Name)
			// R15 outside the pod space, for old and new pods alike.
			for _, p := range []*topology.Pod{from, c.pods[h.Name][0]} {
				g.Eventually(func() (netip.Addr, error) {
					return topology.Probe(ctx, p.NS, internet.Addr(), probeTimeout)
				}).Should(Equal(h.Addr(v1alpha1.IPv4)), "%s -> %s", p.Name, internet.Addr())
			}
		}
	})
}

// expectPodToPod probes from each node's first two pods to the next node's first pod, and
// expects the receiver to see want(from, to).
func (c *cluster) expectPodToPod(g *WithT, nodes []*topology.Host, want func(from, to *topology.Pod) netip.Addr) {
	ctx := context.Background()
	for i, h := range nodes {
		peer := nodes[(i+1)%len(nodes)]
		for _, from := range c.pods[h.Name][:2] {
			to := c.pods[peer.Name][0]
			dst := to.IP(v1alpha1.IPv4)
			g.Eventually(func() (netip.Addr, error) {
				return topology.Probe(ctx, from.NS, dst, probeTimeout)
			}).Should(Equal(want(from, to)), "%s (%s) -> %s (%s)", from.Name, from.IPs, to.Name, dst)
		}
	}
}

// ringProbe connects each pod of a ring to the next one every 100 ms, and keeps, per link,
// the number of connections made and the longest time without one.
type ringProbe struct {
	pods []*topology.Pod
	stop chan struct{}
	wg   sync.WaitGroup
	gaps []time.Duration
	oks  []int
}

// startRingProbe starts probing the ring of pods (IPv4).
func startRingProbe(pods []*topology.Pod) *ringProbe {
	r := &ringProbe{pods: pods, stop: make(chan struct{}), gaps: make([]time.Duration, len(pods)), oks: make([]int, len(pods))}
	for i, from := range pods {
		to := pods[(i+1)%len(pods)]
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			last := time.Now()
			for {
				select {
				case <-r.stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := topology.Probe(context.Background(), from.NS, to.IP(v1alpha1.IPv4), probeTimeout); err == nil {
					last = time.Now()
					r.oks[i]++
				} else if gap := time.Since(last); gap > r.gaps[i] {
					r.gaps[i] = gap
				}
			}
		}()
	}
	return r
}

// stopAndCheck probes one more second, stops, logs every link's figures and expects each
// link to have connected during the probe and never to have gone maxMigrationGap without
// a connection. A reconcile takes milliseconds; the bound is loose for a loaded machine
// and still catches connectivity that waits for a resync (LegacyRecheckPeriod, 30 s).
func (r *ringProbe) stopAndCheck(t *testing.T, g *WithT) {
	time.Sleep(time.Second)
	close(r.stop)
	r.wg.Wait()
	for i, gap := range r.gaps {
		from, to := r.pods[i], r.pods[(i+1)%len(r.pods)]
		t.Logf("%s -> %s: %d connections during the migration, longest gap without one: %v", from.Name, to.Name, r.oks[i], gap.Round(time.Millisecond))
		g.Expect(r.oks[i]).To(BeNumerically(">", 0), "no probe of %s -> %s succeeded during the migration", from.Name, to.Name)
		g.Expect(gap).To(BeNumerically("<", maxMigrationGap), "%s lost %s during the migration", from.Name, to.Name)
	}
}
