package controller_test

import (
	"context"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

// fakeAgents reports Programmed for the current generation of every NNC, as the node
// agents would, until ctx ends.
func fakeAgents(ctx context.Context) {
	defer GinkgoRecover()
	for ctx.Err() == nil {
		list := &v1.NodeNetworkConfigList{}
		if err := k8s.List(ctx, list); err == nil {
			for i := range list.Items {
				nnc := &list.Items[i]
				c := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeProgrammed)
				if c != nil && c.ObservedGeneration == nnc.Generation {
					continue
				}
				meta.SetStatusCondition(&nnc.Status.Conditions, metav1.Condition{Type: v1.NodeProgrammed,
					Status: metav1.ConditionTrue, Reason: "Programmed", Message: "test agent", ObservedGeneration: nnc.Generation})
				_ = k8s.Status().Update(ctx, nnc) // conflicts are retried on the next pass
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// updateCluster changes the OverlayCluster's spec, retrying when the controller's status
// writes race with it; any other error is returned.
func updateCluster(mutate func(*v1.OverlayClusterSpec)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ovc := getCluster(Default)
		mutate(&ovc.Spec)
		return k8s.Update(ctx, ovc)
	})
}

func getCluster(g Gomega) *v1.OverlayCluster {
	ovc := &v1.OverlayCluster{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: v1.ClusterName}, ovc)).To(Succeed())
	return ovc
}

var _ = Describe("Kubenet", func() {
	BeforeEach(reset)

	It("R31 allocates 400 of 401 nodes, keeps one waiting with the reason, and publishes routes that match the NNCs", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) {
			s.Mode = v1.ModeKubenet
			s.PodCIDRs = []string{"10.128.0.0/14"}
		})
		createNodes(0, 401)
		Eventually(func(g Gomega) {
			a := observe(g)
			g.Expect(a.nncs).To(HaveLen(401))
			allocated := map[string]string{}
			waiting := 0
			for name, nnc := range a.nncs {
				if nnc.IsAllocated() {
					g.Expect(nnc.Spec.MaxPods).To(Equal(int32(110)), "R32 default")
					allocated[name] = nnc.Spec.PodCIDRs[0]
					continue
				}
				waiting++
				c := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeAllocated)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Reason).To(Equal(v1.ReasonRouteLimit))
				g.Expect(c.Message).To(ContainSubstring("limit of 400 routes"))
				g.Expect(c.Message).To(ContainSubstring("R31"))
			}
			g.Expect(allocated).To(HaveLen(400))
			g.Expect(waiting).To(Equal(1))

			ovc := getCluster(g)
			g.Expect(ovc.Status.RouteTable).NotTo(BeNil())
			g.Expect(ovc.Status.RouteTable.Routes).To(Equal(int32(400)))
			g.Expect(ovc.Status.RouteTable.Limit).To(Equal(int32(400)))
			g.Expect(ovc.Status.RouteTable.Entries).To(HaveLen(400))
			for _, rt := range ovc.Status.RouteTable.Entries {
				g.Expect(allocated[rt.Node]).To(Equal(rt.Destination), "route of %s", rt.Node)
				g.Expect(rt.NextHop).To(Equal(a.nncs[rt.Node].Spec.NodeIPs[0]))
			}
		}).Should(Succeed())
	})

	It("R34 gives a dual-stack Kubenet node an IPv6 block 16 bits longer than the IPv6 pod CIDR", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) {
			s.Mode = v1.ModeKubenet
			s.IPFamilies = []v1.IPFamily{v1.IPv4, v1.IPv6}
		})
		createNodes(0, 3)
		Eventually(func(g Gomega) {
			a := expectSettled(g, 2, 3)
			for _, nnc := range a.nncs {
				g.Expect(netip.MustParsePrefix(nnc.Spec.PodCIDRs[1]).Bits()).To(Equal(64 + 16))
			}
		}).Should(Succeed())
	})
})

var _ = Describe("Migration", func() {
	BeforeEach(reset)

	It("R51 moves a running Kubenet cluster of 50 nodes to Overlay, keeping every IPv4 block and retiring the route table", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) {
			s.Mode = v1.ModeKubenet
			s.AdditionalNonMasqueradeCIDRs = []string{"192.168.0.0/16"}
		})
		createNodes(0, 50)
		var before allocation
		Eventually(func(g Gomega) {
			before = expectSettled(g, 1, 50)
			g.Expect(getCluster(g).Status.RouteTable.Routes).To(Equal(int32(50)))
		}).Should(Succeed())

		By("changing spec.mode to Overlay")
		Expect(updateCluster(func(s *v1.OverlayClusterSpec) { s.Mode = v1.ModeOverlay })).To(Succeed())
		Eventually(func(g Gomega) {
			ovc := getCluster(g)
			c := meta.FindStatusCondition(ovc.Status.Conditions, v1.ClusterMigrating)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Message).To(ContainSubstring("R54"), "extra non-masquerade ranges are warned about")
			g.Expect(ovc.Status.Mode).To(Equal(v1.ModeKubenet), "nodes run Kubenet until the agents programmed Overlay")
			g.Expect(ovc.Status.RouteTable).NotTo(BeNil(), "the route table stays until the migration completes")
			evs := &eventsv1.EventList{}
			g.Expect(k8s.List(ctx, evs)).To(Succeed())
			g.Expect(evs.Items).To(ContainElement(HaveField("Reason", "ExtraNonMasqueradeRanges")))
		}).Should(Succeed())

		By("letting the agents program the new mode")
		actx, cancel := context.WithCancel(ctx)
		defer cancel()
		go fakeAgents(actx)
		Eventually(func(g Gomega) {
			ovc := getCluster(g)
			c := meta.FindStatusCondition(ovc.Status.Conditions, v1.ClusterMigrating)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal("MigrationComplete"))
			g.Expect(ovc.Status.Mode).To(Equal(v1.ModeOverlay))
			g.Expect(ovc.Status.RouteTable).To(BeNil(), "R51: the route table is retired")
			a := expectSettled(g, 1, 50)
			for name, nnc := range a.nncs {
				g.Expect(nnc.Spec.PodCIDRs).To(Equal(before.nncs[name].Spec.PodCIDRs), "R51: block of %s moved", name)
				g.Expect(nnc.Spec.Mode).To(Equal(v1.ModeOverlay))
				g.Expect(nnc.Spec.MaxPods).To(Equal(int32(250)))
			}
		}).Should(Succeed())

		By("refusing the way back (R52)")
		err := updateCluster(func(s *v1.OverlayClusterSpec) { s.Mode = v1.ModeKubenet })
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("R52"))
	})
})

var _ = Describe("The rulebook in the controller", func() {
	BeforeEach(reset)

	It("R50 reports ConfigValid=False, naming the rule and the node, for a NodeSubnet to Overlay move with a Windows node on docker", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) {
			s.Mode = v1.ModeNodeSubnet
			s.VNetCIDRs = []string{"10.1.0.0/16"}
		})
		n := newNode(0)
		Expect(k8s.Create(ctx, n)).To(Succeed())
		n.Status.NodeInfo = corev1.NodeSystemInfo{OperatingSystem: "windows", ContainerRuntimeVersion: "docker://20.10.9"}
		n.Status.Addresses = newNode(0).Status.Addresses
		Expect(k8s.Status().Update(ctx, n)).To(Succeed())
		// A move needs a node running NodeSubnet: wait for its reservation, which takes 30
		// claims, not just for the cluster's status.
		Eventually(func(g Gomega) {
			g.Expect(getCluster(g).Status.Mode).To(Equal(v1.ModeNodeSubnet))
			nnc := allocated(g, nodeName(0))
			g.Expect(nnc.IsAllocated()).To(BeTrue())
			g.Expect(nnc.Spec.Mode).To(Equal(v1.ModeNodeSubnet))
		}).Should(Succeed())

		Expect(updateCluster(func(s *v1.OverlayClusterSpec) { s.Mode = v1.ModeOverlay })).To(Succeed())
		Eventually(func(g Gomega) {
			c := meta.FindStatusCondition(getCluster(g).Status.Conditions, v1.ClusterConfigValid)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Message).To(ContainSubstring("R50"))
			g.Expect(c.Message).To(ContainSubstring(nodeName(0)))
		}).Should(Succeed())
	})
})

// reservedAddrs expands an NNC's reservedIPs (addresses, CIDRs and first-last ranges).
func reservedAddrs(g Gomega, entries []string) []netip.Addr {
	var out []netip.Addr
	for _, e := range entries {
		switch {
		case strings.Contains(e, "/"):
			p := netip.MustParsePrefix(e)
			for a := p.Addr(); p.Contains(a); a = a.Next() {
				out = append(out, a)
			}
		case strings.Contains(e, "-"):
			ends := strings.SplitN(e, "-", 2)
			last := netip.MustParseAddr(ends[1])
			for a := netip.MustParseAddr(ends[0]); a.Compare(last) <= 0; a = a.Next() {
				out = append(out, a)
			}
		default:
			out = append(out, netip.MustParseAddr(e))
		}
	}
	return out
}

var _ = Describe("NodeSubnet", func() {
	BeforeEach(reset)

	It("R41 reserves 30 addresses for exactly 8 nodes of a /24, none the cloud's or a node's, and the 9th waits; R50 then migrates them to Overlay", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) {
			s.Mode = v1.ModeNodeSubnet
			s.VNetCIDRs = []string{"10.1.0.0/16"}
			s.NodePools = []v1.NodePool{{Name: "all", SubnetCIDR: "10.1.0.0/24"}}
		})
		createNodes(0, 9)
		subnet := netip.MustParsePrefix("10.1.0.0/24")
		Eventually(func(g Gomega) {
			a := observe(g)
			g.Expect(a.nncs).To(HaveLen(9))
			nodeIPs := map[netip.Addr]bool{}
			for _, n := range a.nodes {
				for _, ad := range n.Status.Addresses {
					nodeIPs[netip.MustParseAddr(ad.Address)] = true
				}
			}
			owner := map[netip.Addr]string{}
			allocated, waiting := 0, 0
			for name, nnc := range a.nncs {
				c := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeAllocated)
				if !nnc.IsAllocated() {
					g.Expect(c).NotTo(BeNil())
					waiting++
					g.Expect(c.Reason).To(Equal(v1.ReasonSubnetExhausted))
					g.Expect(c.Message).To(ContainSubstring("R41"))
					continue
				}
				allocated++
				g.Expect(nnc.Spec.MaxPods).To(Equal(int32(30)), "R41 default")
				g.Expect(nnc.Spec.PodCIDRs).To(BeEmpty())
				addrs := reservedAddrs(g, nnc.Spec.ReservedIPs)
				g.Expect(addrs).To(HaveLen(30))
				g.Expect(nnc.Spec.NodeSubnet).To(Equal(subnet.String()), "the agent needs the subnet's prefix length")
				for _, ad := range addrs {
					g.Expect(subnet.Contains(ad)).To(BeTrue())
					g.Expect(ad.As4()[3]).To(BeNumerically(">=", 4), "R40: %s is the cloud's", ad)
					g.Expect(ad.As4()[3]).To(BeNumerically("<", 255), "R40: %s is the broadcast address", ad)
					g.Expect(nodeIPs[ad]).To(BeFalse(), "R40: %s is a node's own address", ad)
					g.Expect(owner).NotTo(HaveKey(ad), "B4: %s reserved twice", ad)
					owner[ad] = name
				}
			}
			g.Expect(allocated).To(Equal(8))
			g.Expect(waiting).To(Equal(1))
			g.Expect(getCluster(g).Status.NonMasqueradeCIDRs).To(ContainElement("10.1.0.0/16"), "R42: traffic inside the VNet keeps the pod IP")
		}).Should(Succeed())

		By("migrating to Overlay: every node ends with a block and no reservation")
		Expect(updateCluster(func(s *v1.OverlayClusterSpec) { s.Mode = v1.ModeOverlay })).To(Succeed())
		actx, cancel := context.WithCancel(ctx)
		defer cancel()
		go fakeAgents(actx)
		Eventually(func(g Gomega) {
			a := expectSettled(g, 1, 9)
			for _, nnc := range a.nncs {
				g.Expect(nnc.Spec.ReservedIPs).To(BeEmpty())
				g.Expect(nnc.Spec.NodeSubnet).To(BeEmpty())
				g.Expect(nnc.Spec.Mode).To(Equal(v1.ModeOverlay))
			}
			for _, c := range a.claims {
				g.Expect(netip.MustParsePrefix(c.Spec.Block).Bits()).To(Equal(24), "reservation %s not released", c.Spec.Block)
			}
			g.Expect(getCluster(g).Status.Mode).To(Equal(v1.ModeOverlay))
		}).Should(Succeed())
	})

	It("R40 says that a dual-stack NodeSubnet cluster's pods get IPv4 addresses only", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) {
			s.Mode = v1.ModeNodeSubnet
			s.IPFamilies = []v1.IPFamily{v1.IPv4, v1.IPv6}
		})
		createNodes(0, 2)
		Eventually(func(g Gomega) {
			a := observe(g)
			g.Expect(a.nncs).To(HaveLen(2))
			for _, nnc := range a.nncs {
				c := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeAllocated)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
				g.Expect(c.Message).To(HaveSuffix("NodeSubnet pods get IPv4 addresses only, migrate to Overlay for dual-stack pods"))
				g.Expect(nnc.Spec.NodeIPs).To(HaveLen(2), "both node addresses are published")
				for _, a := range reservedAddrs(g, nnc.Spec.ReservedIPs) {
					g.Expect(a.Is4()).To(BeTrue(), "an IPv6 address %s was reserved", a)
				}
			}
		}).Should(Succeed())
	})
})

var _ = Describe("A migration interrupted by a manager restart", func() {
	BeforeEach(reset)

	It("R51 resumes and completes without duplicates or moved blocks", func() {
		stop1 := startManager(nil)
		createCluster(func(s *v1.OverlayClusterSpec) { s.Mode = v1.ModeKubenet })
		createNodes(0, 30)
		var before allocation
		Eventually(func(g Gomega) { before = expectSettled(g, 1, 30) }).Should(Succeed())
		Expect(updateCluster(func(s *v1.OverlayClusterSpec) { s.Mode = v1.ModeOverlay })).To(Succeed())
		Eventually(func(g Gomega) {
			c := meta.FindStatusCondition(getCluster(g).Status.Conditions, v1.ClusterMigrating)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())

		By("stopping the manager mid-migration and starting a new one")
		stop1()
		stop2 := startManager(nil)
		defer stop2()
		actx, cancel := context.WithCancel(ctx)
		defer cancel()
		go fakeAgents(actx)
		Eventually(func(g Gomega) {
			ovc := getCluster(g)
			g.Expect(ovc.Status.Mode).To(Equal(v1.ModeOverlay))
			c := meta.FindStatusCondition(ovc.Status.Conditions, v1.ClusterMigrating)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			a := expectSettled(g, 1, 30)
			for name, nnc := range a.nncs {
				g.Expect(nnc.Spec.PodCIDRs).To(Equal(before.nncs[name].Spec.PodCIDRs), "R51: block of %s moved", name)
			}
		}).Should(Succeed())
	})
})
