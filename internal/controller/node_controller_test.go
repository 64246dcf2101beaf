package controller_test

import (
	"errors"
	"net/netip"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

var _ = Describe("Allocation", func() {
	BeforeEach(reset)

	It("R10 gives Nodes added and deleted in bulk correct, unique /24s, and deletion frees the block", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(nil)
		createNodes(0, 100)
		var first allocation
		Eventually(func(g Gomega) { first = expectSettled(g, 1, 100) }).Should(Succeed())
		for _, nnc := range first.nncs {
			p := netip.MustParsePrefix(nnc.Spec.PodCIDRs[0])
			Expect(p.Bits()).To(Equal(24))
			Expect(netip.MustParsePrefix("10.244.0.0/16").Contains(p.Addr())).To(BeTrue())
			Expect(nnc.Spec.MaxPods).To(Equal(int32(250)), "R12 default")
			Expect(nnc.Spec.NodeIPs).To(HaveLen(1))
			Expect(nnc.Spec.Mode).To(Equal(v1.ModeOverlay))
			Expect(nnc.Status.Conditions).To(BeEmpty(), "B8: a node allocated at once costs no status write")
			Expect(nnc.OwnerReferences).To(ContainElement(HaveField("UID", first.nodes[nnc.Name].UID)))
		}

		By("deleting half of the Nodes")
		freed := map[string]bool{}
		for i := 0; i < 50; i++ {
			freed[first.nncs[nodeName(i)].Spec.PodCIDRs[0]] = true
		}
		deleteNodes(0, 50)
		Eventually(func(g Gomega) { expectSettled(g, 1, 50) }).Should(Succeed())

		By("adding 50 Nodes, which take the freed blocks, lowest first")
		createNodes(100, 150)
		Eventually(func(g Gomega) {
			a := expectSettled(g, 1, 100)
			for i := 100; i < 150; i++ {
				g.Expect(freed).To(HaveKey(a.nncs[nodeName(i)].Spec.PodCIDRs[0]))
			}
		}).Should(Succeed())

		By("reporting the address space on the OverlayCluster (B3)")
		Eventually(func(g Gomega) {
			ovc := &v1.OverlayCluster{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "default"}, ovc)).To(Succeed())
			g.Expect(ovc.Status.Nodes).To(Equal(int32(100)))
			g.Expect(ovc.Status.AllocatedNodes).To(Equal(int32(100)))
			g.Expect(ovc.Status.Pools).To(HaveLen(1))
			g.Expect(ovc.Status.Pools[0]).To(Equal(v1.PoolStatus{Family: v1.IPv4, CIDRs: []string{"10.244.0.0/16"},
				BlockPrefixLength: 24, TotalBlocks: "256", AllocatedBlocks: 100, FreeBlocks: "156"}))
			g.Expect(meta.IsStatusConditionTrue(ovc.Status.Conditions, v1.ClusterReady)).To(BeTrue())
			g.Expect(meta.IsStatusConditionTrue(ovc.Status.Conditions, v1.ClusterConfigValid)).To(BeTrue())
			g.Expect(meta.IsStatusConditionTrue(ovc.Status.Conditions, v1.ClusterPodCIDRAvailable)).To(BeTrue())
			g.Expect(ovc.Status.ObservedGeneration).To(Equal(ovc.Generation))
			g.Expect(ovc.Status.NetworkRules).To(HaveLen(4), "R17, and B9's VXLAN port")
			g.Expect(testutil.ToFloat64(poolBlocksGauge("IPv4", "allocated"))).To(Equal(100.0), "B3 metric")
			g.Expect(testutil.ToFloat64(poolBlocksGauge("IPv4", "free"))).To(Equal(156.0), "B3 metric")
			g.Expect(ovc.Status.NetworkRules[2]).To(Equal(v1.NetworkRule{Name: "pod-to-pod",
				Sources: []string{"10.244.0.0/16"}, Destinations: []string{"10.244.0.0/16"}, Protocol: "Any", Ports: "Any"}))
		}).Should(Succeed())
	})

	It("R11 gives every dual-stack Node one block per family, in family order", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) { s.IPFamilies = []v1.IPFamily{v1.IPv4, v1.IPv6} })
		createNodes(0, 40)
		Eventually(func(g Gomega) {
			a := expectSettled(g, 2, 40)
			for _, nnc := range a.nncs {
				v4, v6 := netip.MustParsePrefix(nnc.Spec.PodCIDRs[0]), netip.MustParsePrefix(nnc.Spec.PodCIDRs[1])
				g.Expect(v4.Addr().Is4() && v4.Bits() == 24).To(BeTrue(), "%s", v4)
				g.Expect(v6.Addr().Is6() && v6.Bits() == 120).To(BeTrue(), "%s", v6)
				g.Expect(netip.MustParsePrefix(v1.DefaultIPv6PodCIDR).Contains(v6.Addr())).To(BeTrue())
				g.Expect(nnc.Spec.NodeIPs).To(HaveLen(2))
				g.Expect(netip.MustParseAddr(nnc.Spec.NodeIPs[1]).Is6()).To(BeTrue())
			}
		}).Should(Succeed())
	})

	It("B1 makes the 257th node of a /16 wait with a clear condition, and allocates it once a CIDR is appended", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(nil)
		createNodes(0, 257)
		var waiting string
		Eventually(func(g Gomega) {
			a := observe(g)
			allocated := 0
			for _, nnc := range a.nncs {
				if nnc.IsAllocated() {
					allocated++
					continue
				}
				waiting = nnc.Name
				c := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeAllocated)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Reason).To(Equal(v1.ReasonPoolExhausted))
				g.Expect(c.Message).To(ContainSubstring("no free /24 block left in the IPv4 pod CIDRs [10.244.0.0/16]"))
				g.Expect(nnc.Spec.PodCIDRs).To(BeEmpty())
			}
			g.Expect(allocated).To(Equal(256))
			g.Expect(a.nncs).To(HaveLen(257))
			ovc := &v1.OverlayCluster{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "default"}, ovc)).To(Succeed())
			c := meta.FindStatusCondition(ovc.Status.Conditions, v1.ClusterPodCIDRAvailable)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Message).To(ContainSubstring("1 node(s) wait"))

			evs := &eventsv1.EventList{}
			g.Expect(k8s.List(ctx, evs)).To(Succeed())
			g.Expect(evs.Items).To(ContainElement(And(
				HaveField("Reason", v1.ReasonPoolExhausted),
				HaveField("Type", corev1.EventTypeWarning),
				HaveField("Regarding.Name", v1.ClusterName))), "B3: an event on exhaustion")
		}).Should(Succeed())
		Expect(testutil.ToFloat64(poolBlocksGauge("IPv4", "free"))).To(BeZero())

		By("appending a CIDR: the waiting node gets a block at once and no other block moves")
		before := observe(Default)
		Expect(updateCluster(func(s *v1.OverlayClusterSpec) { s.AdditionalPodCIDRs = []string{"10.245.0.0/16"} })).To(Succeed())
		Eventually(func(g Gomega) {
			a := expectSettled(g, 1, 257)
			g.Expect(a.nncs[waiting].Spec.PodCIDRs).To(Equal([]string{"10.245.0.0/24"}))
			for name, nnc := range before.nncs {
				if name != waiting {
					g.Expect(a.nncs[name].Spec.PodCIDRs).To(Equal(nnc.Spec.PodCIDRs), "B1: block of %s moved", name)
				}
			}
		}).Should(Succeed())
	})

	It("B4 gives no block twice with two managers running at once without leader election", func() {
		stop1 := startManager(nil)
		defer stop1()
		stop2 := startManager(nil)
		defer stop2()
		createCluster(func(s *v1.OverlayClusterSpec) { s.PodCIDRs = []string{"10.128.0.0/14"} })
		createNodes(0, 500)
		Eventually(func(g Gomega) { expectSettled(g, 1, 500) }).Should(Succeed())
	})

	It("B4 leaves no duplicate and no leak when a manager dies in the middle of 1,000 node creations", func() {
		createCluster(func(s *v1.OverlayClusterSpec) { s.PodCIDRs = []string{"10.128.0.0/14"} })
		// The first manager "dies" after 600 writes: from then on every write fails, as if
		// the process had stopped between any two of its writes.
		var writes atomic.Int64
		dead := errors.New("manager killed")
		die := func() error {
			if writes.Add(1) > 600 {
				return dead
			}
			return nil
		}
		stop1 := startManager(func(c client.WithWatch) client.Client {
			return interceptor.NewClient(c, interceptor.Funcs{
				Create: func(ctx ctxT, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
					if err := die(); err != nil {
						return err
					}
					return c.Create(ctx, o, opts...)
				},
				Update: func(ctx ctxT, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
					if err := die(); err != nil {
						return err
					}
					return c.Update(ctx, o, opts...)
				},
				Delete: func(ctx ctxT, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
					if err := die(); err != nil {
						return err
					}
					return c.Delete(ctx, o, opts...)
				},
				SubResourceUpdate: func(ctx ctxT, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
					if err := die(); err != nil {
						return err
					}
					return c.SubResource(sub).Update(ctx, o, opts...)
				},
				SubResourcePatch: func(ctx ctxT, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
					if err := die(); err != nil {
						return err
					}
					return c.SubResource(sub).Patch(ctx, o, p, opts...)
				},
			})
		})
		done := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(done)
			createNodes(0, 1000)
		}()
		Eventually(func() int64 { return writes.Load() }).Should(BeNumerically(">", 600))
		stop1()

		By("restarting the manager while Nodes keep coming")
		stop2 := startManager(nil)
		defer stop2()
		<-done
		Eventually(func(g Gomega) { expectSettled(g, 1, 1000) }, "4m").Should(Succeed())
	})

	It("B4 never shows a Node recreated under the same name the old Node's allocation", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(nil)
		createNodes(0, 3)
		var old allocation
		Eventually(func(g Gomega) { old = expectSettled(g, 1, 3) }).Should(Succeed())
		oldNNC := old.nncs[nodeName(1)]

		By("deleting node-0001 and creating it again at once")
		deleteNodes(1, 2)
		createNodes(1, 2)
		Eventually(func(g Gomega) {
			a := expectSettled(g, 1, 3)
			node, nnc := a.nodes[nodeName(1)], a.nncs[nodeName(1)]
			g.Expect(node.UID).NotTo(Equal(old.nodes[nodeName(1)].UID))
			g.Expect(nnc.UID).NotTo(Equal(oldNNC.UID), "the old NodeNetworkConfig must be replaced, not reused")
			g.Expect(nnc.Spec.NodeUID).To(Equal(string(node.UID)))
			for _, c := range a.claims {
				g.Expect(c.Spec.NodeUID).NotTo(Equal(string(old.nodes[nodeName(1)].UID)), "claim of the old Node survived")
			}
		}).Should(Succeed())
	})

	It("keeps every block and refuses the change when a pod CIDR holding blocks is removed", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) {
			s.PodCIDRs = []string{"10.244.0.0/23"}
			s.AdditionalPodCIDRs = []string{"10.245.0.0/24"}
		})
		createNodes(0, 3)
		var before allocation
		Eventually(func(g Gomega) { before = expectSettled(g, 1, 3) }).Should(Succeed())
		holder := ""
		for name, nnc := range before.nncs {
			if nnc.Spec.PodCIDRs[0] == "10.245.0.0/24" {
				holder = name
			}
		}
		Expect(holder).NotTo(BeEmpty(), "the third node takes the block of the appended CIDR")

		ovc := &v1.OverlayCluster{}
		if err := updateCluster(func(s *v1.OverlayClusterSpec) { s.AdditionalPodCIDRs = nil }); err != nil {
			Skip("admission refuses the removal already: " + err.Error())
		}
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: "default"}, ovc)).To(Succeed())
			c := meta.FindStatusCondition(ovc.Status.Conditions, v1.ClusterConfigValid)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal("PodCIDRRemovalRefused"))
			g.Expect(c.Message).To(ContainSubstring("10.245.0.0/24"))
		}).Should(Succeed())
		a := expectSettled(Default, 1, 3)
		Expect(a.nncs[holder].Spec.PodCIDRs).To(Equal([]string{"10.245.0.0/24"}), "nothing was released")
	})

	It("R12 takes max pods from the node's pool", func() {
		stop := startManager(nil)
		defer stop()
		createCluster(func(s *v1.OverlayClusterSpec) {
			s.NodePools = []v1.NodePool{{Name: "small", MaxPods: ptr.To[int32](30),
				NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pool": "small"}}}}
		})
		n := newNode(0)
		n.Labels = map[string]string{"pool": "small"}
		Expect(k8s.Create(ctx, n)).To(Succeed())
		createNodes(1, 2)
		Eventually(func(g Gomega) {
			a := expectSettled(g, 1, 2)
			g.Expect(a.nncs[nodeName(0)].Spec.MaxPods).To(Equal(int32(30)))
			g.Expect(a.nncs[nodeName(1)].Spec.MaxPods).To(Equal(int32(250)))
		}).Should(Succeed())
	})
})
