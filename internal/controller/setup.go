// Package controller holds the overlaynet reconcilers: read, decide with the pure packages
// (internal/ipam, internal/netconf, internal/validation), write, report.
package controller

import (
	"context"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
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
	alloc := NewAllocator()
	state := &ClusterState{Reader: mgr.GetClient(), Alloc: alloc, Validate: opts.Validate}
	nodes := &NodeReconciler{Client: mgr.GetClient(), Alloc: alloc, Clusters: state}
	cluster := &ClusterReconciler{Client: mgr.GetClient(), Alloc: alloc, Clusters: state,
		Recorder: mgr.GetEventRecorder("overlaynet-controller")}

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
	sameName := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{nodeKey(o.GetName())}
	})

	err := ctrl.NewControllerManagedBy(mgr).
		Named("node").
		For(&corev1.Node{}, builder.WithPredicates(nodeChanged())).
		Watches(&v1.NodeNetworkConfig{}, sameName).
		Watches(&v1.BlockClaim{}, &claimHandler{alloc: alloc}).
		Watches(&v1.OverlayCluster{}, allNodes, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.Workers}).
		Complete(quietConflicts(nodes))
	if err != nil {
		return err
	}

	toCluster := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: v1.ClusterName}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("overlaycluster").
		For(&v1.OverlayCluster{}).
		Watches(&corev1.Node{}, toCluster, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Watches(&v1.BlockClaim{}, toCluster).
		// Agents reporting Programmed complete a migration.
		Watches(&v1.NodeNetworkConfig{}, toCluster).
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

// claimHandler keeps the allocator's view of the claims current and wakes the nodes a
// claim concerns: its holder (to adopt or release it), and on release every node waiting
// for space.
type claimHandler struct {
	alloc *Allocator
}

var _ handler.EventHandler = &claimHandler{}

func (h *claimHandler) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	c := e.Object.(*v1.BlockClaim)
	h.alloc.ObserveClaim(c)
	q.Add(nodeKey(c.Spec.NodeName))
}

func (h *claimHandler) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	c := e.ObjectNew.(*v1.BlockClaim)
	h.alloc.ObserveClaim(c)
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
