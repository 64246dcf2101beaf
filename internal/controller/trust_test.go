package controller_test

import (
	"net/netip"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	alloc "github.com/overlaynet/overlaynet/internal/allocation"
	"github.com/overlaynet/overlaynet/internal/controller"
)

// foreignClaim is a BlockClaim the controller did not write.
func foreignClaim(name, block string, family v1.IPFamily, node, uid string) *v1.BlockClaim {
	return &v1.BlockClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1.BlockClaimSpec{Block: block, Family: family, NodeName: node, NodeUID: uid},
	}
}

// createRefusedOrOK creates o; a refusal by admission is as good as what the test checks
// next (the object never counts), so it reports whether the object exists.
func createRefusedOrOK(o client.Object) bool {
	err := k8s.Create(ctx, o)
	if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return true
}

// createNodeWith creates a Node with the given InternalIPs, as kubelet registers one.
func createNodeWith(name string, addrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, a := range addrs {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a})
	}
	Expect(k8s.Create(ctx, n)).To(Succeed())
	return n
}

func allocated(g Gomega, name string) *v1.NodeNetworkConfig {
	nnc := &v1.NodeNetworkConfig{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, nnc)).To(Succeed())
	return nnc
}

func expectCondition(g Gomega, conds []metav1.Condition, typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	c := meta.FindStatusCondition(conds, typ)
	g.Expect(c).NotTo(BeNil(), "no %s condition", typ)
	g.Expect(c.Status).To(Equal(status), "%s: %s", typ, c.Message)
	if reason != "" {
		g.Expect(c.Reason).To(Equal(reason), "%s: %s", typ, c.Message)
	}
	return c
}

func hasEvent(g Gomega, reason, regarding string) {
	evs := &eventsv1.EventList{}
	g.Expect(k8s.List(ctx, evs)).To(Succeed())
	found := false
	for _, e := range evs.Items {
		if e.Reason == reason && e.Regarding.Name == regarding {
			found = true
		}
	}
	g.Expect(found).To(BeTrue(), "no %s event about %s", reason, regarding)
}

// noOverlap checks that no two published blocks overlap and every published block has the
// publishing node's claim (B4).
func noOverlap(g Gomega) allocation {
	a := observe(g)
	claimOf := map[string]v1.BlockClaim{}
	for _, c := range a.claims {
		claimOf[c.Spec.Block] = c
	}
	seen := map[netip.Prefix]string{}
	for name, nnc := range a.nncs {
		for _, s := range nnc.Spec.PodCIDRs {
			p := netip.MustParsePrefix(s)
			for q, other := range seen {
				g.Expect(p.Overlaps(q)).To(BeFalse(), "B4: %s of %s overlaps %s of %s", p, name, q, other)
			}
			seen[p] = name
			g.Expect(claimOf).To(HaveKey(s), "block %s of %s has no claim", s, name)
			g.Expect(claimOf[s].Spec.NodeUID).To(Equal(nnc.Spec.NodeUID))
		}
	}
	return a
}

var _ = Describe("The claims are the truth (B7)", func() {
	BeforeEach(reset)

	It("releases claims whose holder matches no live Node, an empty UID included, and publishes the node network", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(nil)
		createNodes(0, 2)
		Eventually(func(g Gomega) { expectSettled(g, 1, 2) }).Should(Succeed())

		var stray []string
		for _, c := range []*v1.BlockClaim{
			foreignClaim("v4-10.244.200.0-24", "10.244.200.0/24", v1.IPv4, "ghost", ""),
			foreignClaim("v4-10.244.201.0-24", "10.244.201.0/24", v1.IPv4, "ghost", ""),
			foreignClaim("v4-10.244.202.0-24", "10.244.202.0/24", v1.IPv4, nodeName(0), ""),
			foreignClaim("v4-10.244.203.0-24", "10.244.203.0/24", v1.IPv4, nodeName(1), "not-the-uid-of-node-0001"),
			foreignClaim("v4-10.244.204.0-24", "10.244.204.0/24", v1.IPv4, "", "no-name"),
		} {
			if createRefusedOrOK(c) {
				stray = append(stray, c.Name)
			}
		}
		Expect(stray).To(ContainElement("v4-10.244.203.0-24"))
		Eventually(func(g Gomega) {
			for _, name := range stray {
				err := k8s.Get(ctx, client.ObjectKey{Name: name}, &v1.BlockClaim{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "claim %s still holds its block", name)
			}
			expectSettled(g, 1, 2)
		}).Should(Succeed())

		By("publishing the node network and the pools agents check peers against")
		Eventually(func(g Gomega) {
			st := getCluster(g).Status
			g.Expect(st.NodeNetworkCIDRs).To(Equal([]string{"10.1.0.0/16", "fd00:1::/64"}))
			g.Expect(st.Pools).To(HaveLen(1))
			g.Expect(st.Pools[0].CIDRs).To(Equal([]string{"10.244.0.0/16"}))
			g.Expect(st.Pools[0].BlockPrefixLength).To(Equal(int32(24)))
		}).Should(Succeed())
	})

	It("ignores claims whose family or name does not match their block, and reports them", func() {
		createCluster(nil)
		before := testutil.ToFloat64(controller.ClaimsIgnored())
		// A claim covering the whole pod CIDR under the name of one block, and one whose
		// family is not its block's: trusted, either would stop or skew allocation.
		wrongName := createRefusedOrOK(foreignClaim("v4-10.244.0.0-24", "10.0.0.0/8", v1.IPv4, "ghost", "ghost-uid"))
		wrongFamily := createRefusedOrOK(foreignClaim("v4-10.244.1.0-24", "10.244.1.0/24", v1.IPv6, "ghost", "ghost-uid"))
		stop := startManager(nil)
		defer stop()
		createNodes(0, 3)
		Eventually(func(g Gomega) {
			a := noOverlap(g)
			g.Expect(a.nncs).To(HaveLen(3))
			for name, nnc := range a.nncs {
				g.Expect(nnc.IsAllocated()).To(BeTrue(), name)
				g.Expect(nnc.Spec.PodCIDRs).To(HaveLen(1), name)
				g.Expect(netip.MustParsePrefix("10.244.0.0/16").Contains(netip.MustParsePrefix(nnc.Spec.PodCIDRs[0]).Addr())).To(BeTrue())
			}
		}).Should(Succeed())
		if wrongName || wrongFamily {
			Eventually(func() float64 { return testutil.ToFloat64(controller.ClaimsIgnored()) - before }).Should(BeNumerically(">=", 1))
			Eventually(func(g Gomega) {
				if wrongName {
					hasEvent(g, v1.ReasonClaimIgnored, "v4-10.244.0.0-24")
				} else {
					hasEvent(g, v1.ReasonClaimIgnored, "v4-10.244.1.0-24")
				}
			}).Should(Succeed())
		}
	})

	It("repairs a tampered NodeNetworkConfig allocation from the claims, with an event, and never adopts the block it names", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(nil)
		createNodes(0, 2)
		var want *v1.NodeNetworkConfig
		Eventually(func(g Gomega) { want = expectSettled(g, 1, 2).nncs[nodeName(0)] }).Should(Succeed())

		// Two writes, each retried on a conflict: the manager may repair the first before
		// the second lands.
		Eventually(func() error {
			tampered := allocated(Default, nodeName(0))
			meta.SetStatusCondition(&tampered.Status.Conditions, metav1.Condition{Type: v1.NodeAllocated, Status: metav1.ConditionTrue, Reason: "Hacked", Message: "holds everything"})
			return k8s.Status().Update(ctx, tampered)
		}).Should(Succeed())
		Eventually(func() error {
			tampered := allocated(Default, nodeName(0))
			tampered.Spec.PodCIDRs = []string{"10.244.99.0/24"}
			tampered.Spec.NodeIPs = []string{"10.1.9.9"}
			tampered.Spec.MaxPods = 10
			tampered.Spec.ReservedIPs = []string{"10.1.0.50"}
			return k8s.Update(ctx, tampered)
		}).Should(Succeed())

		Eventually(func(g Gomega) {
			nnc := allocated(g, nodeName(0))
			got := nnc.Spec
			g.Expect(got.PodCIDRs).To(Equal(want.Spec.PodCIDRs))
			g.Expect(got.NodeIPs).To(Equal(want.Spec.NodeIPs))
			g.Expect(got.MaxPods).To(Equal(want.Spec.MaxPods))
			g.Expect(got.ReservedIPs).To(BeEmpty())
			expectCondition(g, nnc.Status.Conditions, v1.NodeAllocated, metav1.ConditionTrue, v1.ReasonAllocated)
			hasEvent(g, v1.ReasonStatusRepaired, nodeName(0))
		}).Should(Succeed())
		err := k8s.Get(ctx, client.ObjectKey{Name: alloc.ClaimName(netip.MustParsePrefix("10.244.99.0/24"))}, &v1.BlockClaim{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the block a tampered status named was claimed")
		expectSettled(Default, 1, 2)
	})
})

var _ = Describe("Delete and re-create of the OverlayCluster (B7)", func() {
	BeforeEach(reset)

	recreate := func(mutate func(*v1.OverlayClusterSpec)) {
		Expect(k8s.Delete(ctx, &v1.OverlayCluster{ObjectMeta: metav1.ObjectMeta{Name: v1.ClusterName}})).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Name: v1.ClusterName}, &v1.OverlayCluster{}))
		}).Should(BeTrue())
		createCluster(mutate)
	}

	It("B1 refuses another block size while blocks are allocated, never overlaps them, and takes it once they are gone", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(nil)
		createNodes(0, 4)
		var before allocation
		Eventually(func(g Gomega) { before = expectSettled(g, 1, 4) }).Should(Succeed())

		recreate(func(s *v1.OverlayClusterSpec) { s.IPv4BlockPrefixLength = 23 })
		createNodes(4, 6)
		Eventually(func(g Gomega) {
			c := expectCondition(g, getCluster(g).Status.Conditions, v1.ClusterConfigValid, metav1.ConditionFalse, v1.ReasonInvalidConfig)
			g.Expect(c.Message).To(ContainSubstring("B1"))
			a := noOverlap(g)
			for i := 0; i < 4; i++ {
				g.Expect(a.nncs[nodeName(i)].Spec.PodCIDRs).To(Equal(before.nncs[nodeName(i)].Spec.PodCIDRs), "allocated nodes keep their blocks")
			}
			for i := 4; i < 6; i++ {
				g.Expect(a.nncs).To(HaveKey(nodeName(i)))
				expectCondition(g, a.nncs[nodeName(i)].Status.Conditions, v1.NodeAllocated, metav1.ConditionFalse, v1.ReasonInvalidConfig)
				g.Expect(a.nncs[nodeName(i)].Spec.PodCIDRs).To(BeEmpty())
			}
			for _, c := range a.claims {
				g.Expect(netip.MustParsePrefix(c.Spec.Block).Bits()).To(Equal(24), "no /23 is carved while /24s are allocated")
			}
		}).Should(Succeed())

		By("deleting the nodes that hold /24s, after which /23s are allocated")
		deleteNodes(0, 4)
		Eventually(func(g Gomega) {
			a := expectSettled(g, 1, 2)
			for _, nnc := range a.nncs {
				g.Expect(netip.MustParsePrefix(nnc.Spec.PodCIDRs[0]).Bits()).To(Equal(23))
			}
			expectCondition(g, getCluster(g).Status.Conditions, v1.ClusterConfigValid, metav1.ConditionTrue, "")
		}).Should(Succeed())
	})

	It("R52 refuses a re-created cluster that would leave Overlay, judged from the nodes, not from the status", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(nil)
		createNodes(0, 3)
		Eventually(func(g Gomega) { expectSettled(g, 1, 3) }).Should(Succeed())

		recreate(func(s *v1.OverlayClusterSpec) { s.Mode = v1.ModeKubenet })
		createNodes(3, 4)
		Eventually(func(g Gomega) {
			c := expectCondition(g, getCluster(g).Status.Conditions, v1.ClusterConfigValid, metav1.ConditionFalse, v1.ReasonInvalidConfig)
			g.Expect(c.Message).To(ContainSubstring("R52"))
			a := noOverlap(g)
			for i := 0; i < 3; i++ {
				g.Expect(a.nncs[nodeName(i)].Spec.Mode).To(Equal(v1.ModeOverlay))
				g.Expect(a.nncs[nodeName(i)].IsAllocated()).To(BeTrue(), "the nodes keep their blocks")
			}
			expectCondition(g, a.nncs[nodeName(3)].Status.Conditions, v1.NodeAllocated, metav1.ConditionFalse, v1.ReasonInvalidConfig)
		}).Should(Succeed())
	})

	It("R51 tracks a Kubenet cluster re-created as Overlay as a migration, from the nodes' mode", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) { s.Mode = v1.ModeKubenet })
		createNodes(0, 3)
		Eventually(func(g Gomega) { expectSettled(g, 1, 3) }).Should(Succeed())

		recreate(nil)
		Eventually(func(g Gomega) {
			st := getCluster(g).Status
			g.Expect(st.Mode).To(Equal(v1.ModeKubenet), "the nodes run Kubenet until their agents programmed Overlay")
			expectCondition(g, st.Conditions, v1.ClusterMigrating, metav1.ConditionTrue, "")
			expectSettled(g, 1, 3)
		}).Should(Succeed())
	})
})

var _ = Describe("Node addresses (B7)", func() {
	BeforeEach(reset)

	It("uses only unique, zone-free, global-unicast InternalIPs inside the node network; the others wait with a reason", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) { s.VNetCIDRs = []string{"10.1.0.0/16"} })
		createNodeWith("first", "10.1.0.10")
		Eventually(func(g Gomega) {
			g.Expect(allocated(g, "first").IsAllocated()).To(BeTrue())
		}).Should(Succeed())
		createNodeWith("copycat", "10.1.0.10")
		createNodeWith("linklocal", "169.254.1.1")
		createNodeWith("outside", "192.168.1.1")
		createNodeWith("mapped", "::ffff:10.1.0.11")
		createNodeWith("none")
		Eventually(func(g Gomega) {
			for name, want := range map[string]string{
				"copycat": "also the address of node first", "linklocal": "not a global unicast",
				"outside": "outside the node network", "mapped": "IPv4-mapped", "none": "no usable IPv4",
			} {
				nnc := allocated(g, name)
				c := expectCondition(g, nnc.Status.Conditions, v1.NodeAllocated, metav1.ConditionFalse, v1.ReasonNoNodeIP)
				g.Expect(c.Message).To(ContainSubstring(want), name)
				g.Expect(nnc.Spec.PodCIDRs).To(BeEmpty(), name)
				g.Expect(nnc.Spec.NodeIPs).To(BeEmpty(), name)
			}
			g.Expect(allocated(g, "first").Spec.NodeIPs).To(Equal([]string{"10.1.0.10"}))
		}).Should(Succeed())

		By("deleting the first holder of the address, after which the other node may use it")
		Expect(k8s.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "first"}})).To(Succeed())
		Eventually(func(g Gomega) {
			nnc := allocated(g, "copycat")
			expectCondition(g, nnc.Status.Conditions, v1.NodeAllocated, metav1.ConditionTrue, v1.ReasonAllocated) // the wait ended
			g.Expect(nnc.Spec.NodeIPs).To(Equal([]string{"10.1.0.10"}))
		}).Should(Succeed())
	})
})

var _ = Describe("Programmed-only changes (B8)", func() {
	BeforeEach(reset)

	It("cause no manager write, and a node allocated at once costs 2 writes: its claim and its NodeNetworkConfig", func() {
		var writes, nodeWrites atomic.Int64
		count := func(o client.Object) {
			writes.Add(1)
			switch o.(type) {
			case *v1.BlockClaim, *v1.NodeNetworkConfig:
				nodeWrites.Add(1)
			}
		}
		stop := startManager(func(c client.WithWatch) client.Client {
			return interceptor.NewClient(c, interceptor.Funcs{
				Create: func(ctx ctxT, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
					count(o)
					return c.Create(ctx, o, opts...)
				},
				Update: func(ctx ctxT, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
					count(o)
					return c.Update(ctx, o, opts...)
				},
				Patch: func(ctx ctxT, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
					count(o)
					return c.Patch(ctx, o, p, opts...)
				},
				Delete: func(ctx ctxT, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
					count(o)
					return c.Delete(ctx, o, opts...)
				},
				SubResourceUpdate: func(ctx ctxT, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
					count(o)
					return c.SubResource(sub).Update(ctx, o, opts...)
				},
				SubResourcePatch: func(ctx ctxT, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
					count(o)
					return c.SubResource(sub).Patch(ctx, o, p, opts...)
				},
			})
		})
		defer stop()
		createCluster(nil)
		createNodes(0, 5)
		Eventually(func(g Gomega) { expectSettled(g, 1, 5) }).Should(Succeed())
		// Settled: the cluster status is written at most once a second, so wait until the
		// write count stays put.
		var settled int64
		Eventually(func() int64 {
			prev := settled
			settled = writes.Load()
			return settled - prev
		}, time.Minute, 2*time.Second).Should(BeZero())
		Expect(nodeWrites.Load()).To(Equal(int64(2*5)), "B8: 2 writes per node")

		for i := 0; i < 5; i++ {
			nnc := allocated(Default, nodeName(i))
			meta.SetStatusCondition(&nnc.Status.Conditions, metav1.Condition{Type: v1.NodeProgrammed, Status: metav1.ConditionTrue,
				Reason: "Programmed", Message: "routes programmed", ObservedGeneration: nnc.Generation})
			Expect(k8s.Status().Update(ctx, nnc)).To(Succeed())
		}
		Consistently(func() int64 { return writes.Load() - settled }, 3*time.Second, 200*time.Millisecond).Should(BeZero())
	})
})
