package crd

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

var _ = Describe("the CRDs", func() {
	It("installs OverlayCluster, NodeNetworkConfig and BlockClaim as cluster-scoped resources with their short names", func() {
		want := map[string]string{
			"overlayclusters.network.overlaynet.io":    "ovc",
			"nodenetworkconfigs.network.overlaynet.io": "nnc",
			"blockclaims.network.overlaynet.io":        "blk",
		}
		for name, short := range want {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, crd)).To(Succeed(), name)
			Expect(crd.Spec.Scope).To(Equal(apiextensionsv1.ClusterScoped), name)
			Expect(crd.Spec.Names.ShortNames).To(ContainElement(short), name)
			if name != "blockclaims.network.overlaynet.io" {
				Expect(crd.Spec.Versions[0].Subresources).NotTo(BeNil(), name)
				Expect(crd.Spec.Versions[0].Subresources.Status).NotTo(BeNil(), name)
			}
		}
	})
})

var _ = Describe("OverlayCluster", func() {
	AfterEach(func() {
		Expect(client.IgnoreNotFound(k8s.DeleteAllOf(ctx, &v1.OverlayCluster{}))).To(Succeed())
	})

	It("R6 fills the defaults into an OverlayCluster that names only its VNet", func() {
		ovc := &v1.OverlayCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "default"},
			Spec:       v1.OverlayClusterSpec{VNetCIDRs: []string{"10.1.0.0/16"}},
		}
		Expect(k8s.Create(ctx, ovc)).To(Succeed())

		got := &v1.OverlayCluster{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "default"}, got)).To(Succeed())
		Expect(got.Spec.Mode).To(Equal(v1.ModeOverlay))
		Expect(got.Spec.IPFamilies).To(Equal([]v1.IPFamily{v1.IPv4}))
		Expect(got.Spec.PodCIDRs).To(Equal([]string{"10.244.0.0/16"}))
		Expect(got.Spec.ServiceCIDRs).To(Equal([]string{"10.0.0.0/16"}))
		Expect(got.Spec.DNSServiceIP).To(Equal("10.0.0.10"))
		Expect(got.Spec.IPv4BlockPrefixLength).To(Equal(int32(24)))
		Expect(got.Spec.NetworkPolicy).To(Equal(v1.NetworkPolicyNone))
		Expect(got.Spec.OutboundType).To(Equal(v1.OutboundLoadBalancer))
		Expect(got.Spec.VirtualNodes).To(BeFalse())
		Expect(got.Spec.MaxPodsPerNode).To(BeNil(), "max pods depends on the mode; the controller publishes the effective value")
	})

	It("refuses an OverlayCluster named anything but default", func() {
		ovc := &v1.OverlayCluster{
			ObjectMeta: metav1.ObjectMeta{Name: "prod"},
			Spec:       v1.OverlayClusterSpec{VNetCIDRs: []string{"10.1.0.0/16"}},
		}
		err := k8s.Create(ctx, ovc)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("must be named 'default'"))
	})

	It("refuses an OverlayCluster without vnetCIDRs", func() {
		ovc := &v1.OverlayCluster{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
		err := k8s.Create(ctx, ovc)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("vnetCIDRs"))
	})

	It("refuses a maxPodsPerNode outside 10..250 (R12)", func() {
		for _, n := range []int32{9, 251} {
			ovc := &v1.OverlayCluster{
				ObjectMeta: metav1.ObjectMeta{Name: "default"},
				Spec:       v1.OverlayClusterSpec{VNetCIDRs: []string{"10.1.0.0/16"}, MaxPodsPerNode: ptr.To(n)},
			}
			Expect(apierrors.IsInvalid(k8s.Create(ctx, ovc))).To(BeTrue(), "maxPodsPerNode %d", n)
		}
	})
})

var _ = Describe("NodeNetworkConfig", func() {
	It("round-trips its status through the status subresource", func() {
		nnc := &v1.NodeNetworkConfig{
			ObjectMeta: metav1.ObjectMeta{Name: "node-a"},
			Spec: v1.NodeNetworkConfigSpec{
				NodeUID:  "3f1c-uid",
				Mode:     v1.ModeOverlay,
				PodCIDRs: []string{"10.244.3.0/24", "fd12:3456:789a::300/120"},
				NodeIPs:  []string{"10.1.0.4", "fd00::4"},
				MaxPods:  250,
			},
		}
		Expect(k8s.Create(ctx, nnc)).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(ctx, nnc)).To(Succeed()) })

		meta.SetStatusCondition(&nnc.Status.Conditions, metav1.Condition{
			Type: v1.NodeAllocated, Status: metav1.ConditionTrue, Reason: v1.ReasonAllocated, Message: "allocated",
		})
		Expect(k8s.Status().Update(ctx, nnc)).To(Succeed())

		got := &v1.NodeNetworkConfig{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "node-a"}, got)).To(Succeed())
		Expect(got.Spec.PodCIDRs).To(Equal(nnc.Spec.PodCIDRs))
		Expect(got.Spec.NodeIPs).To(Equal(nnc.Spec.NodeIPs))
		Expect(got.Spec.MaxPods).To(Equal(int32(250)))
		Expect(got.IsAllocated()).To(BeTrue())

		By("ignoring a spec written through the status subresource")
		got.Spec.PodCIDRs = []string{"10.244.9.0/24"}
		Expect(k8s.Status().Update(ctx, got)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "node-a"}, got)).To(Succeed())
		Expect(got.Spec.PodCIDRs).To(Equal(nnc.Spec.PodCIDRs))

		By("ignoring conditions written through the main resource")
		got.Status.Conditions = nil
		Expect(k8s.Update(ctx, got)).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Name: "node-a"}, got)).To(Succeed())
		Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1.NodeAllocated)).To(BeTrue())
	})

	It("refuses a change of nodeUID, so an NNC stays bound to one Node incarnation (B4)", func() {
		nnc := &v1.NodeNetworkConfig{
			ObjectMeta: metav1.ObjectMeta{Name: "node-b"},
			Spec:       v1.NodeNetworkConfigSpec{NodeUID: "uid-1"},
		}
		Expect(k8s.Create(ctx, nnc)).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(ctx, nnc)).To(Succeed()) })
		nnc.Spec.NodeUID = "uid-2"
		err := k8s.Update(ctx, nnc)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("nodeUID is immutable"))
	})

	It("selects BlockClaims by node and NodeNetworkConfigs by node UID on the server (field selectors, no labels to write)", func() {
		for _, c := range []*v1.BlockClaim{
			{ObjectMeta: metav1.ObjectMeta{Name: "v4-10.244.7.0-24"}, Spec: v1.BlockClaimSpec{Block: "10.244.7.0/24", Family: v1.IPv4, NodeName: "node-s", NodeUID: "uid-s"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "v4-10.244.8.0-24"}, Spec: v1.BlockClaimSpec{Block: "10.244.8.0/24", Family: v1.IPv4, NodeName: "node-t", NodeUID: "uid-t"}},
		} {
			Expect(k8s.Create(ctx, c)).To(Succeed())
			DeferCleanup(func() { Expect(k8s.Delete(ctx, c)).To(Succeed()) })
		}
		claims := &v1.BlockClaimList{}
		Expect(k8s.List(ctx, claims, client.MatchingFields{"spec.nodeName": "node-s"})).To(Succeed())
		Expect(claims.Items).To(ConsistOf(HaveField("Spec.Block", "10.244.7.0/24")))

		nnc := &v1.NodeNetworkConfig{ObjectMeta: metav1.ObjectMeta{Name: "node-s"}, Spec: v1.NodeNetworkConfigSpec{NodeUID: "uid-s"}}
		Expect(k8s.Create(ctx, nnc)).To(Succeed())
		DeferCleanup(func() { Expect(k8s.Delete(ctx, nnc)).To(Succeed()) })
		nncs := &v1.NodeNetworkConfigList{}
		Expect(k8s.List(ctx, nncs, client.MatchingFields{"spec.nodeUID": "uid-s"})).To(Succeed())
		Expect(nncs.Items).To(ConsistOf(HaveField("Name", "node-s")))
	})
})
