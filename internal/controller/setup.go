// Package controller holds the overlaynet reconcilers: read, decide with the pure packages
// (internal/allocation, internal/ipam, internal/netconf, internal/validation), write,
// report.
package controller

import (
	"context"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/allocation"
)

// DefaultWorkers is the default number of concurrent node reconciles. Allocation is
// bounded by API round-trips, not CPU, so more workers than cores pays off.
const DefaultWorkers = 16

// Options tune the controllers.
type Options struct {
	// Workers is the number of concurrent node reconciles.
	Workers int
	// Validate is the rulebook the controller applies beyond admission; nil means
	// Rulebook, the project's own.
	Validate Validator
}

// SetupWithManager registers every overlaynet reconciler with mgr.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Validate == nil {
		rules, err := Rulebook(mgr.GetConfig(), mgr.GetClient())
		if err != nil {
			return err
		}
		opts.Validate = rules
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Node{}, indexNodeIP, internalIPs); err != nil {
		return err
	}
	recorder := mgr.GetEventRecorder("overlaynet-controller")
	alloc := allocation.New()
	log := mgr.GetLogger().WithName("allocation")
	ignored := func(err error) {
		claimsIgnored.Inc()
		log.Info("Ignoring a malformed block claim", "error", err.Error())
	}
	state := &ClusterState{Reader: mgr.GetClient(), Alloc: alloc, Validate: opts.Validate, OnIgnoredClaim: ignored}
	nodes := &NodeReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Alloc: alloc, Clusters: state, Recorder: recorder}
	cluster := &ClusterReconciler{Client: mgr.GetClient(), Alloc: alloc, Clusters: state, Recorder: recorder}

	allNodes := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		list := &corev1.NodeList{}
		if err := mgr.GetClient().List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			reqs = append(reqs, nodeKey(list.Items[i].Name))
		}
		return reqs
	})

	err := ctrl.NewControllerManagedBy(mgr).
		Named("node").
		For(&corev1.Node{}, builder.WithPredicates(nodeChanged())).
		Watches(&corev1.Node{}, &sharedAddressHandler{reader: mgr.GetClient()}).
		Watches(&v1.NodeNetworkConfig{}, &nncHandler{written: &nodes.written}).
		Watches(&v1.BlockClaim{}, &claimHandler{alloc: alloc, ignored: ignored, recorder: recorder}).
		Watches(&v1.OverlayCluster{}, allNodes, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.Workers}).
		Complete(quietConflicts(nodes))
	if err != nil {
		return err
	}

	return ctrl.NewControllerManagedBy(mgr).
		Named("overlaycluster").
		For(&v1.OverlayCluster{}).
		Watches(&corev1.Node{}, &countingHandler{alloc: alloc}, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Watches(&v1.BlockClaim{}, &countingHandler{alloc: alloc}).
		// Allocations, and agents reporting Programmed, which completes a migration.
		Watches(&v1.NodeNetworkConfig{}, &countingHandler{alloc: alloc}).
		Complete(cluster)
}

// nodeChanged passes Node events that can change an allocation: creation, deletion, and
// updates of labels (pool membership), addresses or deletion state. Heartbeats do not.
func nodeChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node)
			return !maps.Equal(o.Labels, n.Labels) || !slices.Equal(o.Status.Addresses, n.Status.Addresses) ||
				o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
		},
	}
}

// sharedAddressHandler wakes the Nodes that share an InternalIP with a Node that is
// deleted or changes its addresses: one of them may now own the address (usableNodeIPs).
type sharedAddressHandler struct {
	reader client.Reader
}

var _ handler.EventHandler = &sharedAddressHandler{}

func (h *sharedAddressHandler) wake(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	for _, ip := range internalIPs(o) {
		list := &corev1.NodeList{}
		if err := h.reader.List(ctx, list, client.MatchingFields{indexNodeIP: ip}, client.UnsafeDisableDeepCopy); err != nil {
			continue
		}
		for i := range list.Items {
			if list.Items[i].Name != o.GetName() {
				q.Add(nodeKey(list.Items[i].Name))
			}
		}
	}
}

func (h *sharedAddressHandler) Create(context.Context, event.CreateEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

func (h *sharedAddressHandler) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	o, n := e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node)
	if !slices.Equal(o.Status.Addresses, n.Status.Addresses) {
		h.wake(ctx, o, q)
	}
}

func (h *sharedAddressHandler) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.Object != nil {
		h.wake(ctx, e.Object, q)
	}
}

func (h *sharedAddressHandler) Generic(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// nncHandler forgets the expectations of writes the cache now shows, and wakes the NNC's
// node, except for changes that only touch the agent's Programmed condition, which no
// allocation depends on.
type nncHandler struct {
	written *expectations
}

var _ handler.EventHandler = &nncHandler{}

func (h *nncHandler) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	nnc := e.Object.(*v1.NodeNetworkConfig)
	h.written.seen(nnc)
	q.Add(nodeKey(nnc.Name))
}

func (h *nncHandler) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	o, n := e.ObjectOld.(*v1.NodeNetworkConfig), e.ObjectNew.(*v1.NodeNetworkConfig)
	h.written.seen(n)
	if programmedOnly(o, n) {
		return
	}
	q.Add(nodeKey(n.Name))
}

func (h *nncHandler) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.Object == nil {
		return
	}
	h.written.forget(e.Object.GetName())
	q.Add(nodeKey(e.Object.GetName()))
}

func (h *nncHandler) Generic(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// programmedOnly reports whether an NNC update changed nothing the controller owns: its
// spec, labels, owners, deletion state and the Allocated condition.
func programmedOnly(o, n *v1.NodeNetworkConfig) bool {
	return o.UID == n.UID && o.Generation == n.Generation && specEqual(&o.Spec, &n.Spec) &&
		maps.Equal(o.Labels, n.Labels) && slices.EqualFunc(o.OwnerReferences, n.OwnerReferences, func(a, b metav1.OwnerReference) bool { return a.UID == b.UID && a.Name == b.Name }) &&
		o.DeletionTimestamp.IsZero() == n.DeletionTimestamp.IsZero() && allocatedEqual(o.Status.Conditions, n.Status.Conditions)
}

// claimHandler keeps the allocation state's view of the claims current and wakes the nodes
// a claim concerns: its holder (to adopt or release it), and on release every node waiting.
// A malformed claim is reported (metric, log, event) and otherwise ignored.
type claimHandler struct {
	alloc    *allocation.State
	ignored  func(error)
	recorder events.EventRecorder
}

var _ handler.EventHandler = &claimHandler{}

func (h *claimHandler) observe(c *v1.BlockClaim, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if err := h.alloc.ObserveClaim(c); err != nil {
		h.ignored(err)
		if h.recorder != nil {
			h.recorder.Eventf(c, nil, corev1.EventTypeWarning, v1.ReasonClaimIgnored, "Ignore", "%s: not counted as an allocation", err.Error())
		}
		return
	}
	q.Add(nodeKey(c.Spec.NodeName))
}

func (h *claimHandler) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.observe(e.Object.(*v1.BlockClaim), q)
}

func (h *claimHandler) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	o, n := e.ObjectOld.(*v1.BlockClaim), e.ObjectNew.(*v1.BlockClaim)
	if o.Spec != n.Spec {
		h.alloc.ForgetClaim(o.Name, o.Spec.NodeUID)
		h.observe(n, q)
	}
}

func (h *claimHandler) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	c, ok := e.Object.(*v1.BlockClaim)
	if !ok {
		return
	}
	// The reconciler that deleted the claim may have forgotten it already, so waiting
	// nodes are woken whether or not this call frees the block.
	h.alloc.ForgetClaim(c.Name, c.Spec.NodeUID)
	for _, n := range h.alloc.Waiting() {
		q.Add(nodeKey(n))
	}
	q.Add(nodeKey(c.Spec.NodeName))
}

func (h *claimHandler) Generic(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}

// countingHandler keeps the counts of the allocation state (live Nodes; allocated and
// programmed NodeNetworkConfigs per mode) as events arrive, and wakes the cluster
// reconciler, whose work is then O(1). One handler does both so that the counts are
// current when the reconcile it queues runs. The wake-up is delayed by countsDelay: the
// queue keeps one pending wake-up, so a burst of thousands of events costs a few
// reconciles a second, not one per event.
type countingHandler struct {
	alloc *allocation.State
}

var _ handler.EventHandler = &countingHandler{}

var clusterKey = reconcile.Request{NamespacedName: client.ObjectKey{Name: v1.ClusterName}}

const countsDelay = 250 * time.Millisecond

func (h *countingHandler) observe(o client.Object, gone bool) {
	switch x := o.(type) {
	case *corev1.Node:
		if gone {
			h.alloc.ForgetLiveNode(x.Name)
		} else {
			h.alloc.ObserveLiveNode(x.Name)
		}
	case *v1.NodeNetworkConfig:
		if gone {
			h.alloc.ForgetNode(x.Name)
		} else {
			h.alloc.ObserveNode(nodeConfigOf(x))
		}
	}
}

func (h *countingHandler) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.observe(e.Object, false)
	q.AddAfter(clusterKey, countsDelay)
}

func (h *countingHandler) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.observe(e.ObjectNew, false)
	q.AddAfter(clusterKey, countsDelay)
}

func (h *countingHandler) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.Object != nil {
		h.observe(e.Object, true)
	}
	q.AddAfter(clusterKey, countsDelay)
}

func (h *countingHandler) Generic(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
}
