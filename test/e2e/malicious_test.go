package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
	"github.com/overlaynet/overlaynet/test/harness"
	"github.com/overlaynet/overlaynet/test/topology"
)

// maliciousPeer is a NodeNetworkConfig written with admin rights that breaks one of the
// agent's peer rules (B7).
type maliciousPeer struct {
	name     string
	podCIDRs []string
	nodeIPs  func(c *cluster) []string
	// wantProblem is what every agent reports about it.
	wantProblem string
	// wantOnHolder is what the node whose address it takes reports, when it takes one.
	wantOnHolder string
}

// TestMaliciousPeerInNamespaces proves B7 on real datapaths: with the manager stopped (so
// nothing repairs or removes them), an administrator writes peer NodeNetworkConfigs that
// break every peer rule of the agent. Each agent skips them, names them in its Programmed
// condition, and keeps its routes, its nftables table (SNAT and the pod-ingress guard) and
// its pods' connectivity exactly as they were.
func TestMaliciousPeerInNamespaces(t *testing.T) {
	binDir := namespaceTest(t)
	g := newG(t)
	ctx := context.Background()

	// The manager and the agents run apart, so that the manager can be stopped alone.
	c := newCluster(t, binDir)
	env := c.env
	topo, err := topology.New(topology.Config{Nodes: []string{"node-1", "node-2", "node-3"}, VNet4: vnet4, WorkDir: t.TempDir()})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(topo.Close()).To(Succeed()) })
	c.topo = topo
	agents, manager := &harness.Runner{}, &harness.Runner{}
	t.Cleanup(func() { g.Expect(agents.Stop()).To(Succeed()) })
	t.Cleanup(func() { g.Expect(manager.Stop()).To(Succeed()) })
	g.Expect(manager.StartManager(ctx, env)).To(Succeed())
	g.Expect(env.Client.Create(ctx, &v1alpha1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterName},
		Spec:       v1alpha1.OverlayClusterSpec{Mode: v1alpha1.ModeOverlay, VNetCIDRs: []string{vnet4.String()}},
	})).To(Succeed())
	c.startNodes(t, agents)

	for _, h := range topo.Nodes {
		g.Eventually(func(g Gomega) {
			nnc := c.nnc(g, h.Name)
			p := meta.FindStatusCondition(nnc.Status.Conditions, v1alpha1.NodeProgrammed)
			g.Expect(p).NotTo(BeNil())
			g.Expect(p.Status).To(Equal(metav1.ConditionTrue), p.Message)
			g.Expect(p.Reason).To(Equal(agent.ReasonProgrammed), p.Message)
			g.Expect(c.routes(g, h.Name)).To(HaveLen(2), "routes of %s", h.Name)
		}).WithTimeout(90 * time.Second).Should(Succeed())
	}
	c.startPodsAndExternal(t, metadata)
	c.expectConnectivity(g)

	// What the datapaths hold before the attack.
	routesBefore, tablesBefore := map[string]string{}, map[string]string{}
	for _, h := range topo.Nodes {
		routesBefore[h.Name] = fmt.Sprint(c.routes(g, h.Name))
		tablesBefore[h.Name] = agentTable(g, h)
	}

	// Nothing repairs or deletes the malicious objects from here on.
	g.Expect(manager.Stop()).To(Succeed())

	node2 := topo.Nodes[1]
	inVNet := func(i int) string { return addrInVNet(200 + i).String() }
	peers := []maliciousPeer{
		{
			name: "evil-outside", podCIDRs: []string{"192.168.77.0/24"},
			nodeIPs:     func(*cluster) []string { return []string{inVNet(0)} },
			wantProblem: `block "192.168.77.0/24" lies outside the cluster's pod CIDRs`,
		},
		{
			name: "evil-everything", podCIDRs: []string{"0.0.0.0/0"},
			nodeIPs:     func(*cluster) []string { return []string{inVNet(1)} },
			wantProblem: `block "0.0.0.0/0" is /0`,
		},
		{
			name: "evil-offnet", podCIDRs: []string{"10.244.250.0/24"},
			nodeIPs:     func(*cluster) []string { return []string{"203.0.113.9"} },
			wantProblem: `node IP "203.0.113.9" lies outside the node network`,
		},
		{
			name: "evil-twin", podCIDRs: []string{"10.244.251.0/24"},
			nodeIPs:      func(*cluster) []string { return []string{node2.Addr(v1alpha1.IPv4).String()} },
			wantProblem:  fmt.Sprintf(`node IP %q is already the address of node-2`, node2.Addr(v1alpha1.IPv4)),
			wantOnHolder: fmt.Sprintf(`node IP %q is this node's own address`, node2.Addr(v1alpha1.IPv4)),
		},
		{
			name: "evil-length", podCIDRs: []string{"10.244.252.0/23"},
			nodeIPs:     func(*cluster) []string { return []string{inVNet(2)} },
			wantProblem: `block "10.244.252.0/23" is not a /24`,
		},
	}
	// Where two NodeNetworkConfigs name one address, the older keeps it, and creation
	// timestamps count whole seconds: the attack starts a full second after node-2's object
	// was created, so that node-2 is older than its twin by the clock, not by a name tie.
	created := c.nnc(g, node2.Name).CreationTimestamp.Time
	time.Sleep(time.Until(created.Add(1100 * time.Millisecond)))
	var written []maliciousPeer
	for _, p := range peers {
		if c.writeMaliciousPeer(t, g, p) {
			written = append(written, p)
		}
	}

	t.Run("B7 every agent skips the malicious peers and names them in its Programmed condition", func(t *testing.T) {
		g := newG(t)
		for _, h := range topo.Nodes {
			g.Eventually(func(g Gomega) {
				p := meta.FindStatusCondition(c.nnc(g, h.Name).Status.Conditions, v1alpha1.NodeProgrammed)
				g.Expect(p).NotTo(BeNil())
				g.Expect(p.Status).To(Equal(metav1.ConditionTrue), p.Message)
				g.Expect(p.Reason).To(Equal(agent.ReasonPeersSkipped), p.Message)
				g.Expect(p.Message).To(ContainSubstring("Skipped entries of %d peer(s)", len(written)), p.Message)
				for _, m := range written {
					want := m.wantProblem
					if h == node2 && m.wantOnHolder != "" {
						want = m.wantOnHolder
					}
					g.Expect(p.Message).To(ContainSubstring(m.name+": "+want), "%s reports %s", h.Name, m.name)
				}
			}).Should(Succeed())
		}
	})

	t.Run("B7 the other nodes' routes, SNAT and pod-ingress guard stay as they were", func(t *testing.T) {
		g := newG(t)
		// A few reconciles have passed by now; keep watching for a while.
		g.Consistently(func(g Gomega) {
			for _, h := range topo.Nodes {
				g.Expect(fmt.Sprint(c.routes(g, h.Name))).To(Equal(routesBefore[h.Name]), "routes of %s", h.Name)
				g.Expect(agentTable(g, h)).To(Equal(tablesBefore[h.Name]), "nftables table of %s", h.Name)
			}
		}).WithTimeout(3 * time.Second).WithPolling(300 * time.Millisecond).Should(Succeed())
		c.expectConnectivity(g)
	})

	t.Run("B7 removing the malicious peers clears the report", func(t *testing.T) {
		g := newG(t)
		for _, p := range written {
			g.Expect(env.Client.Delete(ctx, &v1alpha1.NodeNetworkConfig{ObjectMeta: metav1.ObjectMeta{Name: p.name}})).To(Succeed())
		}
		for _, h := range topo.Nodes {
			g.Eventually(func(g Gomega) {
				p := meta.FindStatusCondition(c.nnc(g, h.Name).Status.Conditions, v1alpha1.NodeProgrammed)
				g.Expect(p).NotTo(BeNil())
				g.Expect(p.Reason).To(Equal(agent.ReasonProgrammed), p.Message)
			}).Should(Succeed())
			g.Expect(fmt.Sprint(c.routes(g, h.Name))).To(Equal(routesBefore[h.Name]), "routes of %s", h.Name)
		}
	})
}

// writeMaliciousPeer creates p's NodeNetworkConfig and writes its status with admin rights.
// It reports false when the API server refuses the status as invalid (the schema's own
// checks may refuse some attacks before the agent sees them, which is a pass too).
func (c *cluster) writeMaliciousPeer(t *testing.T, g *WithT, p maliciousPeer) bool {
	t.Helper()
	ctx := context.Background()
	nnc := &v1alpha1.NodeNetworkConfig{
		ObjectMeta: metav1.ObjectMeta{Name: p.name},
		Spec: v1alpha1.NodeNetworkConfigSpec{
			NodeUID:  "uid-" + p.name,
			Mode:     v1alpha1.ModeOverlay,
			PodCIDRs: p.podCIDRs,
			NodeIPs:  p.nodeIPs(c),
			MaxPods:  250,
		},
	}
	err := c.env.Client.Create(ctx, nnc)
	if apierrors.IsInvalid(err) {
		t.Logf("the API server refused %s's spec: %v", p.name, err)
		return false
	}
	g.Expect(err).NotTo(HaveOccurred(), "writing %s", p.name)
	return true
}

// expectConnectivity checks pod to pod across nodes (the source kept) and pod to the
// external host (SNATed to the node IP), IPv4 (R15).
func (c *cluster) expectConnectivity(g *WithT) {
	ctx := context.Background()
	for i, h := range c.topo.Nodes {
		peer := c.topo.Nodes[(i+1)%len(c.topo.Nodes)]
		from, to := c.pods[h.Name][0], c.pods[peer.Name][0]
		g.Eventually(func() (netip.Addr, error) {
			return topology.Probe(ctx, from.NS, to.IP(v1alpha1.IPv4), probeTimeout)
		}).Should(Equal(from.IP(v1alpha1.IPv4)), "%s -> %s", from.Name, to.Name)
		g.Eventually(func() (netip.Addr, error) {
			return topology.Probe(ctx, from.NS, c.topo.External.Addr(v1alpha1.IPv4), probeTimeout)
		}).Should(Equal(h.Addr(v1alpha1.IPv4)), "%s -> external", from.Name)
	}
}

// agentTable renders the agent's nftables table in a node: every chain's rules in order
// (counters left out) and every set's elements.
func agentTable(g Gomega, h *topology.Host) string {
	conn, err := nftables.New(nftables.WithNetNSFd(int(h.NS)))
	g.Expect(err).NotTo(HaveOccurred())
	table := &nftables.Table{Name: linux.TableName, Family: nftables.TableFamilyINet}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	g.Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, ch := range chains {
		if ch.Table.Name != linux.TableName {
			continue
		}
		rules, err := conn.GetRules(table, ch)
		g.Expect(err).NotTo(HaveOccurred())
		for _, r := range rules {
			var exprs []string
			for _, e := range r.Exprs {
				if _, counter := e.(*expr.Counter); counter {
					continue
				}
				exprs = append(exprs, fmt.Sprintf("%T%+v", e, e))
			}
			out = append(out, ch.Name+": "+strings.Join(exprs, " "))
		}
	}
	sets, err := conn.GetSets(table)
	g.Expect(err).NotTo(HaveOccurred())
	for _, s := range sets {
		elems, err := conn.GetSetElements(s)
		g.Expect(err).NotTo(HaveOccurred())
		var keys []string
		for _, e := range elems {
			a, _ := netip.AddrFromSlice(e.Key)
			keys = append(keys, a.String())
		}
		slices.Sort(keys)
		out = append(out, "set "+s.Name+": "+strings.Join(keys, ","))
	}
	return strings.Join(out, "\n")
}

// addrInVNet returns the i-th address of the VNet.
func addrInVNet(i int) netip.Addr {
	a := vnet4.Addr()
	for range i {
		a = a.Next()
	}
	return a
}
