package controller_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/controller"
	"github.com/overlaynet/overlaynet/internal/testenv"
)

var (
	env *testenv.Env
	k8s client.Client
	ctx = context.Background()
)

var poolBlocksGauge = controller.PoolBlocksGauge

func TestController(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	RunSpecs(t, "Allocation controller")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s = env.Client
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// startManager runs a manager with the overlaynet controllers until the returned function
// is called. newClient, when set, wraps the manager's client (to inject failures).
func startManager(newClient func(client.WithWatch) client.Client) (stop func()) {
	opts := ctrl.Options{
		Scheme:  env.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		// Several managers run in one process in these tests.
		Controller: ctrlConfigSkipNameValidation(),
		Cache:      controller.CacheOptions(),
	}
	if newClient != nil {
		opts.NewClient = func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, o)
			if err != nil {
				return nil, err
			}
			return newClient(c), nil
		}
	}
	mgr, err := ctrl.NewManager(env.Config, opts)
	Expect(err).NotTo(HaveOccurred())
	Expect(controller.SetupWithManager(mgr, controller.Options{})).To(Succeed())
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	return func() { cancel(); <-done }
}

// reset deletes every object the tests create, so each spec starts from an empty cluster.
func reset() {
	for _, l := range []client.Object{&corev1.Node{}, &v1.NodeNetworkConfig{}, &v1.BlockClaim{}, &v1.OverlayCluster{}} {
		Expect(k8s.DeleteAllOf(ctx, l)).To(Succeed())
	}
	Eventually(func(g Gomega) {
		nodes, nncs, claims := &corev1.NodeList{}, &v1.NodeNetworkConfigList{}, &v1.BlockClaimList{}
		g.Expect(k8s.List(ctx, nodes)).To(Succeed())
		g.Expect(k8s.List(ctx, nncs)).To(Succeed())
		g.Expect(k8s.List(ctx, claims)).To(Succeed())
		g.Expect(nodes.Items).To(BeEmpty())
		g.Expect(nncs.Items).To(BeEmpty())
		g.Expect(claims.Items).To(BeEmpty())
	}).Should(Succeed())
}

func createCluster(mutate func(*v1.OverlayClusterSpec)) {
	ovc := &v1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1.ClusterName},
		Spec:       v1.OverlayClusterSpec{VNetCIDRs: []string{"10.1.0.0/16", "fd00:1::/64"}},
	}
	if mutate != nil {
		mutate(&ovc.Spec)
	}
	Expect(k8s.Create(ctx, ovc)).To(Succeed())
}

// nodeName returns the name of the i-th test node.
func nodeName(i int) string { return fmt.Sprintf("node-%04d", i) }

// newNode returns a Node with an IPv4 and an IPv6 InternalIP derived from i.
func newNode(i int) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: nodeName(i)},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.1.%d.%d", i/250, i%250+4)},
			{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("fd00:1::%x", i+4)},
		}},
	}
}

// createNodes creates Nodes from..to-1 with a few writers at once; the status carrying the
// addresses is written right after, as a kubelet does.
func createNodes(from, to int) {
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer GinkgoRecover()
			defer wg.Done()
			for i := range work {
				n := newNode(i)
				addrs := n.Status
				Expect(k8s.Create(ctx, n)).To(Succeed())
				n.Status = addrs
				Expect(k8s.Status().Update(ctx, n)).To(Succeed())
			}
		}()
	}
	for i := from; i < to; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}

func deleteNodes(from, to int) {
	for i := from; i < to; i++ {
		Expect(k8s.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName(i)}})).To(Succeed())
	}
}

// allocation is what the cluster looks like once things settle.
type allocation struct {
	nodes  map[string]*corev1.Node
	nncs   map[string]*v1.NodeNetworkConfig
	claims []v1.BlockClaim
}

func observe(g Gomega) allocation {
	nodes, nncs, claims := &corev1.NodeList{}, &v1.NodeNetworkConfigList{}, &v1.BlockClaimList{}
	g.Expect(k8s.List(ctx, nodes)).To(Succeed())
	g.Expect(k8s.List(ctx, nncs)).To(Succeed())
	g.Expect(k8s.List(ctx, claims)).To(Succeed())
	a := allocation{nodes: map[string]*corev1.Node{}, nncs: map[string]*v1.NodeNetworkConfig{}, claims: claims.Items}
	for i := range nodes.Items {
		a.nodes[nodes.Items[i].Name] = &nodes.Items[i]
	}
	for i := range nncs.Items {
		a.nncs[nncs.Items[i].Name] = &nncs.Items[i]
	}
	return a
}

// expectSettled asserts the B4 invariants: every Node has an Allocated NNC bound to its UID
// with one block per family, no block is published twice or overlaps another, every
// published block is backed by a claim of that Node, and every claim belongs to an
// existing Node and is published (no leak).
func expectSettled(g Gomega, families int, wantNodes int) allocation {
	a := observe(g)
	g.Expect(a.nodes).To(HaveLen(wantNodes))
	claimOf := map[string]v1.BlockClaim{}
	for _, c := range a.claims {
		claimOf[c.Spec.Block] = c
	}
	seen := map[netip.Prefix]string{}
	published := map[string]bool{}
	for name, node := range a.nodes {
		nnc, ok := a.nncs[name]
		g.Expect(ok).To(BeTrue(), "node %s has no NodeNetworkConfig", name)
		g.Expect(nnc.Spec.NodeUID).To(Equal(string(node.UID)), "NNC %s is bound to another Node", name)
		g.Expect(nnc.IsAllocated()).To(BeTrue(), "NNC %s not allocated: %v", name, nnc.Status.Conditions)
		g.Expect(nnc.Spec.PodCIDRs).To(HaveLen(families), "NNC %s", name)
		for _, s := range nnc.Spec.PodCIDRs {
			p := netip.MustParsePrefix(s)
			for q, other := range seen {
				g.Expect(p.Overlaps(q)).To(BeFalse(), "B4: %s of %s overlaps %s of %s", p, name, q, other)
			}
			seen[p] = name
			c, ok := claimOf[s]
			g.Expect(ok).To(BeTrue(), "block %s of %s has no claim", s, name)
			g.Expect(c.Spec.NodeUID).To(Equal(string(node.UID)), "claim of %s is held by another Node", s)
			published[s] = true
		}
	}
	for _, c := range a.claims {
		g.Expect(published[c.Spec.Block]).To(BeTrue(), "leak: claim %s (node %s) is published by no node", c.Name, c.Spec.NodeName)
	}
	return a
}
