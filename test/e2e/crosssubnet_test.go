package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/test/harness"
	"github.com/overlaynet/overlaynet/test/topology"
)

// Two node segments joined by a router that knows only the node subnets (B9): node-a1 and
// node-a2 share segment A, node-b1 is alone on segment B, the external host sits on a
// third segment behind the router.
var (
	segA = topology.Segment{Nodes: []string{"node-a1", "node-a2"}, Net4: netip.MustParsePrefix("10.1.0.0/24"), Net6: netip.MustParsePrefix("fd00:1::/64")}
	segB = topology.Segment{Nodes: []string{"node-b1"}, Net4: netip.MustParsePrefix("10.2.0.0/24"), Net6: netip.MustParsePrefix("fd00:2::/64")}
	out  = topology.Segment{Net4: netip.MustParsePrefix("10.3.0.0/24"), Net6: netip.MustParsePrefix("fd00:3::/64")}
)

func TestCrossSubnetInNamespaces(t *testing.T) {
	binDir := namespaceTest(t)
	runCrossSubnetScenario(t, binDir)
}

func runCrossSubnetScenario(t *testing.T, binDir string) {
	g := newG(t)
	ctx := context.Background()
	c := newCluster(t, binDir)
	env := c.env
	routed, err := topology.NewRouted(topology.RoutedConfig{Segments: []topology.Segment{segA, segB}, Outside: out, WorkDir: t.TempDir()})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(routed.Close()).To(Succeed()) })
	c.topo = routed.Topology
	runner := &harness.Runner{}
	t.Cleanup(func() { g.Expect(runner.Stop()).To(Succeed()) })
	g.Expect(runner.StartManager(ctx, env)).To(Succeed())

	// No crossSubnet field: the default, CrossSubnet, is what a GitOps manifest without
	// the field gets.
	ovc := &v1alpha1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterName},
		Spec: v1alpha1.OverlayClusterSpec{
			IPFamilies: c.topo.Families,
			VNetCIDRs:  []string{"10.1.0.0/16", "10.2.0.0/16", "fd00:1::/64", "fd00:2::/64"},
		},
	}
	g.Expect(env.Client.Create(ctx, ovc)).To(Succeed())
	for _, h := range c.topo.Nodes {
		g.Expect(harness.CreateNode(ctx, env.Client, h.Name, nil, h.Addrs)).To(Succeed())
	}
	for _, h := range c.topo.Nodes {
		a, err := runner.StartAgent(ctx, env, h, binDir)
		g.Expect(err).NotTo(HaveOccurred())
		c.agents[h.Name] = a
	}
	a1, a2, b1 := c.topo.Nodes[0], c.topo.Nodes[1], c.topo.Nodes[2]

	// How many peers take each path is a metric; the Programmed message says which path a
	// peer takes (its node's link directly, VXLAN elsewhere) and stays the same when a peer
	// joins (B8).
	wantPaths := map[string][2]int{a1.Name: {1, 1}, a2.Name: {1, 1}, b1.Name: {0, 2}}
	t.Run("B9 every node is Programmed, says which peers go direct, and counts direct and encapsulated peers", func(t *testing.T) {
		g := newG(t)
		for _, h := range c.topo.Nodes {
			g.Eventually(func(g Gomega) {
				p := meta.FindStatusCondition(c.nnc(g, h.Name).Status.Conditions, v1alpha1.NodeProgrammed)
				g.Expect(p).NotTo(BeNil())
				g.Expect(p.Status).To(Equal(metav1.ConditionTrue), p.Message)
				g.Expect(p.Message).To(MatchRegexp(`peers in [0-9a-f.:/, ]+ routed directly, others through VXLAN on UDP port \d+, VNI \d+`))
				direct, vxlan := harness.PeerPaths(h.Name)
				g.Expect([2]int{direct, vxlan}).To(Equal(wantPaths[h.Name]), "overlaynet_agent_peers of %s: [direct, vxlan]", h.Name)
			}).WithTimeout(90 * time.Second).Should(Succeed())
		}
	})
	if t.Failed() {
		return
	}

	t.Run("R17 B9 the network rules name the VXLAN UDP port", func(t *testing.T) {
		g := newG(t)
		g.Eventually(func(g Gomega) {
			got := &v1alpha1.OverlayCluster{}
			g.Expect(env.Client.Get(ctx, types.NamespacedName{Name: v1alpha1.ClusterName}, got)).To(Succeed())
			g.Expect(got.Status.NetworkRules).To(ContainElement(v1alpha1.NetworkRule{Name: "vxlan",
				Sources: ovc.Spec.VNetCIDRs, Destinations: ovc.Spec.VNetCIDRs, Protocol: "UDP", Ports: "4789"}))
		}).Should(Succeed())
	})

	t.Run("B9 peers on the link are routed directly, the peer elsewhere through the family's VXLAN device", func(t *testing.T) {
		g := newG(t)
		for _, f := range c.topo.Families {
			g.Expect(tunnelMTU(g, a1, f)).To(Equal(1500-desired.TunnelOverhead(f)), "the %s device fits the uplink", f)
		}
		c.expectPaths(g, a1, map[string]bool{a2.Name: false, b1.Name: true})
		c.expectPaths(g, b1, map[string]bool{a1.Name: true, a2.Name: true})
	})

	// Two pods per node, and the external host's echo server.
	for _, h := range c.topo.Nodes {
		for i := range 2 {
			c.addPod(t, h, fmt.Sprintf("%s-pod-%d", h.Name, i))
		}
	}
	external, err := topology.Serve(c.topo.External.NS)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = external.Close() })

	for _, f := range c.topo.Families {
		t.Run(fmt.Sprintf("B9 R15 %s pods across segments reach each other keeping their IP", f), func(t *testing.T) {
			c.expectPairs(newG(t), f, [][2]*topology.Host{{a1, b1}, {b1, a2}, {a2, b1}, {b1, a1}})
		})
		t.Run(fmt.Sprintf("B9 %s pods on one segment talk directly: the VXLAN device sends nothing", f), func(t *testing.T) {
			g := newG(t)
			// Two TCP exchanges between the segment's nodes send at least 8 packets from
			// node-a1; through the device they would all show. The last packets of the
			// previous subtest's connections to node-b1 (a FIN or an ACK) may still leave
			// through it meanwhile, so up to 2 are tolerated.
			tx := tunnelTx(g, a1, f)
			c.expectPairs(g, f, [][2]*topology.Host{{a1, a2}, {a2, a1}})
			sameSegment := tunnelTx(g, a1, f)
			g.Expect(sameSegment-tx).To(BeNumerically("<=", 2), "node-a1's %s device carried pod traffic to its own segment", f)
			// The counter moves when traffic does cross: it can tell.
			c.expectPairs(g, f, [][2]*topology.Host{{a1, b1}})
			g.Expect(tunnelTx(g, a1, f)).To(BeNumerically(">=", sameSegment+3))
		})
		t.Run(fmt.Sprintf("R15 %s pods on both segments are SNATed to their node's IP towards the outside", f), func(t *testing.T) {
			g := newG(t)
			for _, h := range c.topo.Nodes {
				from := c.pods[h.Name][0]
				g.Eventually(func() (netip.Addr, error) {
					return topology.Probe(ctx, from.NS, c.topo.External.Addr(f), probeTimeout)
				}).Should(Equal(h.Addr(f)), "%s -> external", from.Name)
			}
		})
	}

	t.Run("B9 a 1,400-byte IPv4 ping with DF set crosses subnets; pods get the uplink's MTU less the overhead", func(t *testing.T) {
		g := newG(t)
		from, to := c.pods[a1.Name][0], c.pods[b1.Name][0]
		podMTU := 1500 - desired.TunnelOverhead(v1alpha1.IPv6) // dual-stack: one interface, the larger overhead
		g.Expect(linkMTU(g, from.NS, "eth0")).To(Equal(podMTU))
		g.Eventually(func() error {
			return topology.PingDF(from.NS, to.IP(v1alpha1.IPv4), 1400, probeTimeout)
		}).Should(Succeed())
		// DF is really set: one byte more than the pod's MTU is refused at the sender.
		g.Expect(topology.PingDF(from.NS, to.IP(v1alpha1.IPv4), podMTU-28+1, probeTimeout)).To(MatchError(ContainSubstring("message too long")))
		// IPv6 at the largest size the pod's MTU allows (40-byte header, 8-byte ICMPv6).
		g.Eventually(func() error {
			return topology.PingDF(from.NS, to.IP(v1alpha1.IPv6), podMTU-48, probeTimeout)
		}).Should(Succeed())
	})

	t.Run("R16 B9 a VXLAN datagram from outside the nodes is dropped and counted", func(t *testing.T) {
		g := newG(t)
		for _, f := range c.topo.Families {
			drops := vxlanDrops(g, a1, f)
			g.Expect(c.topo.External.InNetNS(func() error {
				conn, err := net.Dial("udp", netip.AddrPortFrom(a1.Addr(f), 4789).String())
				if err != nil {
					return err
				}
				defer conn.Close()
				_, err = conn.Write(make([]byte, 64))
				return err
			})).To(Succeed())
			g.Eventually(func() uint64 { return vxlanDrops(g, a1, f) }).Should(BeNumerically(">", drops), "%s", f)
		}
	})

	setMode := func(g *WithT, m v1alpha1.CrossSubnetMode) {
		g.Eventually(func(g Gomega) {
			got := &v1alpha1.OverlayCluster{}
			g.Expect(env.Client.Get(ctx, types.NamespacedName{Name: v1alpha1.ClusterName}, got)).To(Succeed())
			got.Spec.CrossSubnet = &v1alpha1.CrossSubnetSpec{Mode: m}
			g.Expect(env.Client.Update(ctx, got)).To(Succeed())
		}).Should(Succeed())
	}

	t.Run("B9 VXLAN mode encapsulates every peer, and moving back to CrossSubnet leaves no stale entry", func(t *testing.T) {
		g := newG(t)
		setMode(g, v1alpha1.CrossSubnetModeVXLAN)
		g.Eventually(func(g Gomega) { c.expectPaths(g, a1, map[string]bool{a2.Name: true, b1.Name: true}) }).Should(Succeed())
		for _, f := range c.topo.Families {
			c.expectPairs(g, f, [][2]*topology.Host{{a1, a2}, {a1, b1}})
		}
		setMode(g, v1alpha1.CrossSubnetModeCrossSubnet)
		g.Eventually(func(g Gomega) { c.expectPaths(g, a1, map[string]bool{a2.Name: false, b1.Name: true}) }).Should(Succeed())
		for _, f := range c.topo.Families {
			c.expectPairs(g, f, [][2]*topology.Host{{a1, a2}, {a1, b1}})
		}
	})

	t.Run("B9 Direct mode removes every VXLAN device; the router does not route pod CIDRs, so the far peers fail", func(t *testing.T) {
		g := newG(t)
		setMode(g, v1alpha1.CrossSubnetModeDirect)
		for _, h := range c.topo.Nodes {
			g.Eventually(func(g Gomega) {
				g.Expect(linkKinds(g, h)).NotTo(ContainElement("vxlan"), "%s", h.Name)
				p := meta.FindStatusCondition(c.nnc(g, h.Name).Status.Conditions, v1alpha1.NodeProgrammed)
				g.Expect(p.Status).To(Equal(metav1.ConditionFalse), "a peer off the link cannot be routed directly")
			}).Should(Succeed())
		}
		c.expectPairs(g, v1alpha1.IPv4, [][2]*topology.Host{{a1, a2}})
		setMode(g, v1alpha1.CrossSubnetModeCrossSubnet)
		for _, h := range c.topo.Nodes {
			g.Eventually(func(g Gomega) {
				p := meta.FindStatusCondition(c.nnc(g, h.Name).Status.Conditions, v1alpha1.NodeProgrammed)
				g.Expect(p.Status).To(Equal(metav1.ConditionTrue), p.Message)
			}).Should(Succeed())
		}
		c.expectPairs(g, v1alpha1.IPv4, [][2]*topology.Host{{a1, b1}})
	})

	t.Run("B9 a peer leaving takes its entries, and the last encapsulated peer the device", func(t *testing.T) {
		g := newG(t)
		g.Expect(harness.DeleteNode(ctx, env.Client, b1.Name)).To(Succeed())
		for _, h := range []*topology.Host{a1, a2} {
			g.Eventually(func(g Gomega) {
				g.Expect(linkKinds(g, h)).NotTo(ContainElement("vxlan"), "%s keeps a VXLAN device with no peer", h.Name)
				neigh, fdb, err := c.agents[h.Name].Backend.OwnedTunnelEntries()
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(neigh).To(BeEmpty())
				g.Expect(fdb).To(BeEmpty())
			}).Should(Succeed())
		}
		c.expectPairs(g, v1alpha1.IPv4, [][2]*topology.Host{{a1, a2}})
	})
}

// expectPaths checks h's routes and VXLAN entries: each peer's blocks go through the
// family's device (true) or straight to the peer's node IP (false), and the devices hold
// entries for exactly the encapsulated peers.
func (c *cluster) expectPaths(g Gomega, h *topology.Host, encap map[string]bool) {
	routes := c.routes(g, h.Name)
	neigh, fdb, err := c.agents[h.Name].Backend.OwnedTunnelEntries()
	g.Expect(err).NotTo(HaveOccurred())
	wantNeigh := map[string]map[netip.Addr]string{}
	wantFDB := map[string]map[string]netip.Addr{}
	var want []desired.Route
	for peer, viaTunnel := range encap {
		host := c.topo.Node(peer)
		for _, s := range c.nnc(g, peer).Spec.PodCIDRs {
			dst := netip.MustParsePrefix(s)
			f := familyOf(dst.Addr())
			if !viaTunnel {
				want = append(want, desired.Route{Dst: dst, Via: host.Addr(f)})
				continue
			}
			dev, mac := desired.TunnelName(f), desired.TunnelMAC(host.Addr(f)).String()
			want = append(want, desired.Route{Dst: dst, Via: dst.Addr()})
			if wantNeigh[dev] == nil {
				wantNeigh[dev], wantFDB[dev] = map[netip.Addr]string{}, map[string]netip.Addr{}
			}
			wantNeigh[dev][dst.Addr()] = mac
			wantFDB[dev][mac] = host.Addr(f)
		}
	}
	g.Expect(routes).To(ConsistOf(want), "routes of %s", h.Name)
	g.Expect(neigh).To(Equal(wantNeigh), "neighbour entries of %s", h.Name)
	g.Expect(fdb).To(Equal(wantFDB), "forwarding entries of %s", h.Name)
}

// expectPairs probes from each pair's first node's pods to the second's first pod and
// expects the receiver to see the sender's own address.
func (c *cluster) expectPairs(g Gomega, f v1alpha1.IPFamily, pairs [][2]*topology.Host) {
	for _, p := range pairs {
		to := c.pods[p[1].Name][0]
		for _, from := range c.pods[p[0].Name] {
			g.Eventually(func() (netip.Addr, error) {
				return topology.Probe(context.Background(), from.NS, to.IP(f), probeTimeout)
			}).WithTimeout(30*time.Second).Should(Equal(from.IP(f)), "%s (%s) -> %s (%s)", from.Name, from.IP(f), to.Name, to.IP(f))
		}
	}
}

func tunnelLink(g Gomega, h *topology.Host, f v1alpha1.IPFamily) netlink.Link {
	nl, err := netlink.NewHandleAt(h.NS, unix.NETLINK_ROUTE)
	g.Expect(err).NotTo(HaveOccurred())
	defer nl.Close()
	l, err := nl.LinkByName(desired.TunnelName(f))
	g.Expect(err).NotTo(HaveOccurred())
	return l
}

func tunnelTx(g Gomega, h *topology.Host, f v1alpha1.IPFamily) uint64 {
	return tunnelLink(g, h, f).Attrs().Statistics.TxPackets
}

func tunnelMTU(g Gomega, h *topology.Host, f v1alpha1.IPFamily) int {
	return tunnelLink(g, h, f).Attrs().MTU
}

func linkMTU(g Gomega, ns netns.NsHandle, name string) int {
	var mtu int
	g.Expect(linux.InNetNS(ns, func() error {
		i, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		mtu = i.MTU
		return nil
	})).To(Succeed())
	return mtu
}

// vxlanDrops reads the counter of the node's VXLAN-port guard of a family.
func vxlanDrops(g Gomega, h *topology.Host, f v1alpha1.IPFamily) uint64 {
	conn, err := nftables.New(nftables.WithNetNSFd(int(h.NS)))
	g.Expect(err).NotTo(HaveOccurred())
	table := &nftables.Table{Name: linux.TableName, Family: nftables.TableFamilyINet}
	rules, err := conn.GetRules(table, &nftables.Chain{Name: "input", Table: table})
	g.Expect(err).NotTo(HaveOccurred())
	for _, r := range rules {
		fam := r.Exprs[1].(*expr.Cmp).Data[0]
		if (fam == unix.NFPROTO_IPV6) != (f == v1alpha1.IPv6) {
			continue
		}
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				return ctr.Packets
			}
		}
	}
	g.Expect(false).To(BeTrue(), "no %s VXLAN guard", f)
	return 0
}
