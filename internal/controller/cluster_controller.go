package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/allocation"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// statusInterval bounds how often the OverlayCluster status is rewritten while only counts
// change, so that a scale-up of thousands of nodes costs a handful of cluster writes rather
// than one per node.
const statusInterval = time.Second

// ClusterReconciler reports the state of the pod address space on the OverlayCluster (B3):
// whether the spec is valid, how many blocks are left, how many nodes are served.
type ClusterReconciler struct {
	client.Client
	// Alloc is the shared view of claims and pools.
	Alloc *allocation.State
	// Clusters resolves the OverlayCluster into its configuration.
	Clusters *ClusterState
	// Recorder emits events on transitions a user can act on.
	Recorder events.EventRecorder

	// lastWrite is when the status was last written.
	lastWrite time.Time
}

// +kubebuilder:rbac:groups=network.overlaynet.io,resources=overlayclusters,verbs=get;list;watch
// +kubebuilder:rbac:groups=network.overlaynet.io,resources=overlayclusters/status,verbs=update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile writes the OverlayCluster status.
func (r *ClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	ovc := &v1.OverlayCluster{}
	if err := r.Get(ctx, req.NamespacedName, ovc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	cfg, prob, err := r.Clusters.Current(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := ovc.DeepCopy()
	st := &ovc.Status

	// Every figure comes from counts the allocation state keeps as events arrive: no
	// reconcile lists Nodes, NodeNetworkConfigs or claims (B8).
	counts := r.Alloc.Counts()
	st.Nodes = int32(counts.Nodes)
	nodesWaiting.Set(float64(counts.Waiting))

	r.setConfigValid(ovc, cfg, prob)
	if cfg != nil {
		r.reconcileMigration(ovc, cfg, counts)
		if err := r.fillAddressSpace(ctx, ovc, cfg, counts); err != nil {
			return ctrl.Result{}, err
		}
	}
	setNodeStates(counts)
	ready := meta.IsStatusConditionTrue(st.Conditions, v1.ClusterConfigValid) &&
		st.AllocatedNodes == st.Nodes && !meta.IsStatusConditionTrue(st.Conditions, v1.ClusterMigrating)
	readyMsg := fmt.Sprintf("%d of %d nodes allocated", st.AllocatedNodes, st.Nodes)
	r.setCondition(ovc, v1.ClusterReady, ready, map[bool]string{true: v1.ReasonAllocated, false: v1.ReasonNotAllAllocated}[ready], readyMsg)
	if !meta.IsStatusConditionTrue(st.Conditions, v1.ClusterConfigValid) {
		r.setCondition(ovc, v1.ClusterReady, false, v1.ReasonInvalidConfig, "the configuration breaks a rule: see ConfigValid")
	}
	if prob == nil {
		st.ObservedGeneration = ovc.Generation
	}

	if equalClusterStatus(&before.Status, st) {
		return ctrl.Result{}, nil
	}
	// Only counts changed: batch them.
	if onlyCountsChanged(&before.Status, st) && time.Since(r.lastWrite) < statusInterval {
		return ctrl.Result{RequeueAfter: statusInterval - time.Since(r.lastWrite)}, nil
	}
	if err := r.Status().Patch(ctx, ovc, client.MergeFrom(before)); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
		}
		return ctrl.Result{}, err
	}
	r.lastWrite = time.Now()
	return ctrl.Result{}, nil
}

func (r *ClusterReconciler) setConfigValid(ovc *v1.OverlayCluster, cfg *netconf.Config, prob *problem) {
	switch stranded := r.Clusters.Stranded().Stranded; {
	case prob != nil:
		r.setCondition(ovc, v1.ClusterConfigValid, false, prob.reason, prob.message)
	case len(stranded) > 0:
		msg := ""
		for f, blocks := range stranded {
			msg += fmt.Sprintf("%s blocks %v lie outside the configured pod CIDRs; ", f, netconf.Strings(blocks))
		}
		r.setCondition(ovc, v1.ClusterConfigValid, false, v1.ReasonPodCIDRRemovalRefused, msg+
			"removing or narrowing a pod CIDR that holds blocks is refused and nothing was released; restore it (B1)")
	default:
		r.setCondition(ovc, v1.ClusterConfigValid, true, v1.ReasonValid, fmt.Sprintf("%s mode, families %v", cfg.Mode, cfg.Families))
	}
}

// fillAddressSpace writes the per-family usage, the effective values and the R17 rules.
func (r *ClusterReconciler) fillAddressSpace(ctx context.Context, ovc *v1.OverlayCluster, cfg *netconf.Config, counts allocation.Counts) error {
	st := &ovc.Status
	st.MaxPodsPerNode = cfg.MaxPodsPerNode
	// Agents check peers' addresses against the node network and their blocks against
	// the pools' CIDRs and block lengths.
	st.NodeNetworkCIDRs = netconf.Strings(cfg.VNetCIDRs)
	st.NonMasqueradeCIDRs = netconf.Strings(cfg.NonMasqueradeCIDRs())
	st.NetworkRules = NetworkRules(cfg)
	st.Pools = nil
	usage := r.Alloc.Usage()
	exhausted := []string{}
	for _, f := range cfg.Families {
		u, ok := usage[f]
		if !ok {
			continue
		}
		st.Pools = append(st.Pools, v1.PoolStatus{
			Family: f, CIDRs: netconf.Strings(cfg.PoolCIDRs(f)), BlockPrefixLength: int32(cfg.BlockBits[f]),
			TotalBlocks: u.Total.String(), AllocatedBlocks: u.Allocated.Int64(), FreeBlocks: u.Free.String(),
		})
		total, _ := u.Total.Float64()
		free, _ := u.Free.Float64()
		poolBlocks.WithLabelValues(string(f), "total").Set(total)
		poolBlocks.WithLabelValues(string(f), "free").Set(free)
		poolBlocks.WithLabelValues(string(f), "allocated").Set(float64(u.Allocated.Int64()))
		if u.Free.Sign() == 0 {
			exhausted = append(exhausted, string(f))
		}
	}
	st.AllocatedNodes = int32(counts.Allocated)
	if st.Mode == v1.ModeKubenet {
		routes, err := r.routeTable(ctx)
		if err != nil {
			return err
		}
		st.RouteTable = &v1.RouteTableStatus{Routes: int32(len(routes)), Limit: v1.KubenetRouteLimit, Entries: routes}
	} else {
		st.RouteTable = nil
	}
	switch {
	case len(exhausted) > 0 && counts.Waiting > 0:
		r.setCondition(ovc, v1.ClusterPodCIDRAvailable, false, v1.ReasonPoolExhausted, fmt.Sprintf(
			"no free block in the %v pod CIDRs; %d node(s) wait (%s): append a CIDR to spec.additionalPodCIDRs or widen spec.podCIDRs (B1)",
			exhausted, counts.Waiting, firstFew(counts.FirstWaiting, counts.Waiting)))
	case len(exhausted) > 0:
		r.setCondition(ovc, v1.ClusterPodCIDRAvailable, false, v1.ReasonPoolExhausted, fmt.Sprintf(
			"no free block left in the %v pod CIDRs: the next node will wait (B3)", exhausted))
	case counts.Waiting > 0 && cfg.Mode == v1.ModeKubenet:
		r.setCondition(ovc, v1.ClusterPodCIDRAvailable, false, v1.ReasonRouteLimit, fmt.Sprintf(
			"the route table holds its limit of %d routes; %d node(s) wait (R31)", v1.KubenetRouteLimit, counts.Waiting))
	default:
		r.setCondition(ovc, v1.ClusterPodCIDRAvailable, true, v1.ReasonBlocksAvailable, "every family has free blocks")
	}
	return nil
}

// setCondition sets a condition and emits an event when it turns False.
func (r *ClusterReconciler) setCondition(ovc *v1.OverlayCluster, typ string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	// A copy: SetStatusCondition updates the slice element in place.
	var prev *metav1.Condition
	if c := meta.FindStatusCondition(ovc.Status.Conditions, typ); c != nil {
		prev = c.DeepCopy()
	}
	meta.SetStatusCondition(&ovc.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: ovc.Generation,
	})
	turnedBad := !ok && (prev == nil || prev.Status != metav1.ConditionFalse || prev.Reason != reason)
	if turnedBad && typ != v1.ClusterReady && r.Recorder != nil {
		r.Recorder.Eventf(ovc, nil, corev1.EventTypeWarning, reason, typ, "%s", msg)
	}
}

// NetworkRules returns the flows the node network must allow (R17): node to node, node to
// pod and pod to pod, on every port and protocol, and the VXLAN port when peers may be
// encapsulated (B9).
func NetworkRules(cfg *netconf.Config) []v1.NetworkRule {
	vnet, pods := netconf.Strings(cfg.VNetCIDRs), netconf.Strings(cfg.ClusterPodCIDRs())
	if cfg.Mode == v1.ModeNodeSubnet {
		pods = vnet
	}
	rule := func(name string, from, to []string) v1.NetworkRule {
		return v1.NetworkRule{Name: name, Sources: from, Destinations: to, Protocol: "Any", Ports: "Any"}
	}
	return append([]v1.NetworkRule{
		rule("node-to-node", vnet, vnet),
		rule("node-to-pod", vnet, pods),
		rule("pod-to-pod", pods, pods),
	}, vxlanRules(cfg)...)
}

// equalClusterStatus compares two statuses by content, condition timestamps aside; nil
// and empty lists are equal, as they are once written.
func equalClusterStatus(a, b *v1.OverlayClusterStatus) bool {
	x, y := a.DeepCopy(), b.DeepCopy()
	for _, c := range [][]metav1.Condition{x.Conditions, y.Conditions} {
		for i := range c {
			c[i].LastTransitionTime = metav1.Time{}
		}
	}
	return equality.Semantic.DeepEqual(x, y)
}

func onlyCountsChanged(a, b *v1.OverlayClusterStatus) bool {
	x, y := a.DeepCopy(), b.DeepCopy()
	for _, s := range []*v1.OverlayClusterStatus{x, y} {
		s.Nodes, s.AllocatedNodes = 0, 0
		if s.RouteTable != nil {
			s.RouteTable.Routes, s.RouteTable.Entries = 0, nil
		}
		for i := range s.Pools {
			s.Pools[i].AllocatedBlocks, s.Pools[i].FreeBlocks = 0, ""
		}
		if c := meta.FindStatusCondition(s.Conditions, v1.ClusterReady); c != nil {
			c.Message = ""
		}
	}
	return equalClusterStatus(x, y)
}

// firstFew names the first few of total nodes.
func firstFew(first []string, total int) string {
	if total > len(first) {
		return fmt.Sprintf("%v and %d more", first, total-len(first))
	}
	return fmt.Sprint(first)
}
