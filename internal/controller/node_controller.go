package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/ipam"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// LabelNodeUID is set on NodeNetworkConfigs and BlockClaims: the UID of the Node they
// belong to, for selection with kubectl.
const LabelNodeUID = "network.overlaynet.io/node-uid"

// NodeReconciler gives every Node a NodeNetworkConfig holding its blocks (R10, R11) and
// releases what a Node held once that Node is gone (B4).
type NodeReconciler struct {
	client.Client
	// Alloc is the shared view of claims and pools.
	Alloc *Allocator
	// Clusters resolves the OverlayCluster into its configuration.
	Clusters *ClusterState
	// subnetMu serialises NodeSubnet reservations within this process.
	subnetMu sync.Mutex
	// written remembers this process's last NNC write per node, so that a cache which
	// has not caught up with it is not mistaken for the truth (expectations).
	written sync.Map // node name -> *v1.NodeNetworkConfig
}

// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=network.overlaynet.io,resources=nodenetworkconfigs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=network.overlaynet.io,resources=nodenetworkconfigs/status,verbs=update;patch
// +kubebuilder:rbac:groups=network.overlaynet.io,resources=blockclaims,verbs=get;list;watch;create;delete

// Reconcile allocates for one Node.
func (r *NodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	node := &corev1.Node{}
	if err := r.Get(ctx, req.NamespacedName, node); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.reconcileDelete(ctx, req.Name, "")
	}
	if !node.DeletionTimestamp.IsZero() {
		// The Node is going; its blocks stay claimed until it is gone, because its pods
		// may still use them.
		return ctrl.Result{}, nil
	}
	// Release whatever an earlier Node of the same name held (B4).
	if err := r.reconcileDelete(ctx, node.Name, string(node.UID)); err != nil {
		return ctrl.Result{}, err
	}
	return r.reconcileNormal(ctx, node)
}

// reconcileDelete releases the claims and the NNC that a Node name holds under any UID but
// keepUID. The garbage collector does the same through ownerReferences; doing it here
// frees blocks at once and works on clusters without one.
func (r *NodeReconciler) reconcileDelete(ctx context.Context, name, keepUID string) error {
	for _, c := range r.Alloc.ClaimsOfName(name, keepUID) {
		if err := r.deleteClaim(ctx, c); err != nil {
			return err
		}
	}
	nnc := &v1.NodeNetworkConfig{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, nnc); err != nil {
		return client.IgnoreNotFound(err)
	}
	if nnc.Spec.NodeUID == keepUID || !nnc.DeletionTimestamp.IsZero() {
		return nil
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Deleting the NodeNetworkConfig of a Node that is gone", "staleUID", nnc.Spec.NodeUID)
	r.written.Delete(name)
	err := r.Delete(ctx, nnc, client.Preconditions{UID: &nnc.UID})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func (r *NodeReconciler) deleteClaim(ctx context.Context, c ClaimRef) error {
	claim := &v1.BlockClaim{ObjectMeta: metav1.ObjectMeta{Name: c.Name}}
	// Preconditions are on the claim's own UID, unknown here; the holder is checked by
	// reading it, since a block may have been claimed again by another Node meanwhile.
	live := &v1.BlockClaim{}
	if err := r.Get(ctx, client.ObjectKey{Name: c.Name}, live); err != nil {
		if apierrors.IsNotFound(err) {
			r.Alloc.ForgetClaim(c.Name, c.NodeUID)
			return nil
		}
		return err
	}
	if live.Spec.NodeUID != c.NodeUID {
		return nil
	}
	err := r.Delete(ctx, claim, client.Preconditions{UID: &live.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("releasing block claim %s: %w", c.Name, err)
	}
	if r.Alloc.ForgetClaim(c.Name, c.NodeUID) {
		releases.Inc()
	}
	return nil
}

func (r *NodeReconciler) reconcileNormal(ctx context.Context, node *corev1.Node) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	cfg, problem, err := r.Clusters.Current(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	mode := v1.NetworkMode("")
	if cfg != nil {
		mode = cfg.Mode
	}
	nnc, err := r.ensureNNC(ctx, node, mode)
	if err != nil || nnc == nil {
		return ctrl.Result{}, err
	}
	desired := nnc.Status.DeepCopy()
	var waitErr error
	switch {
	case cfg == nil:
		setAllocated(desired, metav1.ConditionFalse, problem.reason, problem.message)
	case problem != nil:
		// The newest spec breaks a rule. Nodes that hold blocks keep them (nothing
		// already allocated is lost); nodes without wait for a valid spec.
		if !meta.IsStatusConditionTrue(nnc.Status.Conditions, v1.NodeAllocated) {
			setAllocated(desired, metav1.ConditionFalse, problem.reason, problem.message)
		}
	case cfg.Mode == v1.ModeNodeSubnet:
		waitErr = r.reserveAddresses(ctx, node, cfg, desired)
	default:
		start := time.Now()
		waitErr = r.allocateBlocks(ctx, node, nnc, cfg, desired)
		if waitErr == nil {
			allocationLatency.Observe(time.Since(start).Seconds())
		}
	}
	if cfg != nil {
		fillNodeFacts(desired, node, cfg)
	}
	if err := r.writeStatus(ctx, nnc, desired); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.dropExtraClaims(ctx, node, desired); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.switchMode(ctx, nnc, cfg, problem, desired); err != nil {
		return ctrl.Result{}, err
	}
	var exhausted *exhaustedError
	if errors.As(waitErr, &exhausted) {
		log.V(1).Info("Node waits for pod address space", "reason", exhausted.reason, "node", klog.KObj(node))
		return ctrl.Result{}, nil // retried when space appears (claim released, CIDR added)
	}
	return ctrl.Result{}, waitErr
}

// switchMode moves an allocated node to the configuration's mode (a migration reaching it,
// R51, R53). The spec change bumps the NNC's generation, which the agent's Programmed
// condition then has to catch up with.
func (r *NodeReconciler) switchMode(ctx context.Context, nnc *v1.NodeNetworkConfig, cfg *netconf.Config, prob *problem, st *v1.NodeNetworkConfigStatus) error {
	if cfg == nil || prob != nil || nnc.Spec.Mode == cfg.Mode || !meta.IsStatusConditionTrue(st.Conditions, v1.NodeAllocated) {
		return nil
	}
	latest := nnc.DeepCopy()
	if w, ok := r.written.Load(nnc.Name); ok {
		latest = w.(*v1.NodeNetworkConfig).DeepCopy()
	}
	base := latest.DeepCopy()
	latest.Spec.Mode = cfg.Mode
	if err := r.Patch(ctx, latest, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		r.written.Delete(nnc.Name)
		return fmt.Errorf("moving NodeNetworkConfig %s to %s mode: %w", nnc.Name, cfg.Mode, err)
	}
	r.written.Store(nnc.Name, latest)
	ctrl.LoggerFrom(ctx).Info("Node moved to the new network mode", "mode", cfg.Mode)
	return nil
}

// ensureNNC returns the Node's NodeNetworkConfig, creating it bound to the Node's UID. It
// returns nil when an NNC of an earlier Node is still being removed.
func (r *NodeReconciler) ensureNNC(ctx context.Context, node *corev1.Node, mode v1.NetworkMode) (*v1.NodeNetworkConfig, error) {
	nnc := &v1.NodeNetworkConfig{}
	err := r.Get(ctx, client.ObjectKey{Name: node.Name}, nnc)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	if last, ok := r.written.Load(node.Name); ok {
		w := last.(*v1.NodeNetworkConfig)
		switch {
		case apierrors.IsNotFound(err):
			nnc, err = w.DeepCopy(), nil // created by us, not in the cache yet
		case nnc.UID != w.UID || nnc.ResourceVersion == w.ResourceVersion:
			r.written.Delete(node.Name) // replaced, or the cache caught up
		case !statusEqual(&nnc.Status, &w.Status):
			// The cache still shows what our last write replaced. Resource versions are
			// opaque, so staleness is judged by content; if someone else wrote after us,
			// the compare-and-swap below fails and we re-read.
			nnc = w.DeepCopy()
		}
	}
	if err == nil {
		if nnc.Spec.NodeUID != string(node.UID) {
			return nil, nil // reconcileDelete removes it; its delete event brings us back
		}
		return nnc, nil
	}
	nnc = &v1.NodeNetworkConfig{
		ObjectMeta: metav1.ObjectMeta{
			Name:   node.Name,
			Labels: map[string]string{LabelNodeUID: string(node.UID)},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Spec: v1.NodeNetworkConfigSpec{NodeUID: string(node.UID), Mode: mode},
	}
	if err := r.Create(ctx, nnc); err != nil {
		return nil, fmt.Errorf("creating NodeNetworkConfig %s: %w", node.Name, err)
	}
	r.written.Store(node.Name, nnc.DeepCopy())
	return nnc, nil
}

type exhaustedError struct{ reason, message string }

func (e *exhaustedError) Error() string { return e.message }

// waitFor records that a node waits for space and says why in its Allocated condition.
func (r *NodeReconciler) waitFor(node *corev1.Node, desired *v1.NodeNetworkConfigStatus, ex *exhaustedError) error {
	allocationFailures.WithLabelValues(ex.reason).Inc()
	r.Alloc.Wait(node.Name)
	setAllocated(desired, metav1.ConditionFalse, ex.reason, ex.message)
	return ex
}

// allocateBlocks makes desired hold one claimed block per family, all or nothing.
func (r *NodeReconciler) allocateBlocks(ctx context.Context, node *corev1.Node, nnc *v1.NodeNetworkConfig, cfg *netconf.Config, desired *v1.NodeNetworkConfigStatus) error {
	uid := string(node.UID)
	held := r.Alloc.ClaimsOf(uid)
	published := map[v1.IPFamily]netip.Prefix{}
	for _, s := range nnc.Status.PodCIDRs {
		if p, err := netip.ParsePrefix(s); err == nil {
			published[netconf.FamilyOf(p.Addr())] = p
		}
	}

	blocks := make([]netip.Prefix, len(cfg.Families))
	var fresh []netip.Prefix
	var ex *exhaustedError
	for i, f := range cfg.Families {
		b, isNew, err := r.blockFor(ctx, node, cfg, f, published[f], held[f])
		if errors.As(err, &ex) {
			break
		}
		if err != nil {
			return err
		}
		blocks[i] = b
		if isNew {
			fresh = append(fresh, b)
		}
	}

	if ex != nil {
		// All or nothing: give back what this attempt claimed.
		if err := r.releaseClaims(ctx, uid, fresh); err != nil {
			return err
		}
		if len(published) == 0 {
			desired.PodCIDRs = nil
		}
		return r.waitFor(node, desired, ex)
	}
	r.Alloc.Unwait(node.Name)
	desired.ReservedIPs = nil // node-subnet reservations end with the Overlay block (R50)
	desired.NodeSubnet = ""
	desired.PodCIDRs = make([]string, len(blocks))
	for i, b := range blocks {
		desired.PodCIDRs[i] = b.String()
	}
	for _, b := range fresh {
		allocations.WithLabelValues(string(netconf.FamilyOf(b.Addr()))).Inc()
	}
	setAllocated(desired, metav1.ConditionTrue, v1.ReasonAllocated, fmt.Sprintf("holds %v", desired.PodCIDRs))
	return nil
}

// blockFor picks the Node's block of one family: the published one while it is still
// claimed for this Node, else one it already claims (a crash left it unpublished), else a
// new claim. isNew reports a new claim.
func (r *NodeReconciler) blockFor(ctx context.Context, node *corev1.Node, cfg *netconf.Config, f v1.IPFamily, published netip.Prefix, held []netip.Prefix) (block netip.Prefix, isNew bool, err error) {
	if published.IsValid() {
		if slices.Contains(held, published) {
			return published, false, nil
		}
		// Published but not in our view of the claims: the cache may lag, or the claim
		// is gone. Claiming it again settles which.
		ok, err := r.reclaim(ctx, node, f, published)
		if err != nil || ok {
			return published, false, err
		}
	}
	for _, b := range held {
		if r.Alloc.Valid(f, b) {
			return b, false, nil
		}
	}
	limit := 0
	if cfg.Mode == v1.ModeKubenet && f == v1.IPv4 {
		limit = v1.KubenetRouteLimit // R31: one route per node
	}
	block, err = r.claim(ctx, node, cfg, f, limit)
	return block, err == nil, err
}

// claim reserves the lowest free block and makes it ours on the API server. A block the
// API server says is taken is marked so and the next one is tried.
func (r *NodeReconciler) claim(ctx context.Context, node *corev1.Node, cfg *netconf.Config, f v1.IPFamily, limit int) (netip.Prefix, error) {
	for {
		block, err := r.Alloc.Reserve(f, limit)
		if errors.Is(err, ipam.ErrExhausted) {
			return netip.Prefix{}, &exhaustedError{v1.ReasonPoolExhausted, fmt.Sprintf(
				"no free /%d block left in the %s pod CIDRs %v; append a CIDR to spec.additionalPodCIDRs or widen spec.podCIDRs (B1)",
				cfg.BlockBits[f], f, netconf.Strings(cfg.PoolCIDRs(f)))}
		}
		if errors.Is(err, ErrLimit) {
			return netip.Prefix{}, &exhaustedError{v1.ReasonRouteLimit, fmt.Sprintf(
				"the Kubenet route table holds its limit of %d routes, one per node (R31)", limit)}
		}
		if err != nil {
			return netip.Prefix{}, err
		}
		c := newClaim(node, f, block)
		err = r.Create(ctx, c)
		switch {
		case err == nil:
			r.Alloc.ObserveClaim(c)
			return block, nil
		case apierrors.IsAlreadyExists(err):
			r.Alloc.MarkTaken(f, block)
			conflicts.Inc()
		default:
			r.Alloc.Unreserve(f, block)
			return netip.Prefix{}, fmt.Errorf("claiming block %s for node %q: %w", block, node.Name, err)
		}
	}
}

// reclaim makes sure a published block is still claimed for this Node. It reports false
// when the block now belongs to someone else, and the node must get another.
func (r *NodeReconciler) reclaim(ctx context.Context, node *corev1.Node, f v1.IPFamily, block netip.Prefix) (bool, error) {
	if !r.Alloc.Valid(f, block) {
		return false, nil
	}
	c := newClaim(node, f, block)
	err := r.Create(ctx, c)
	if err == nil {
		r.Alloc.ObserveClaim(c)
		return true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return false, err
	}
	live := &v1.BlockClaim{}
	if err := r.Get(ctx, client.ObjectKey{Name: c.Name}, live); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	r.Alloc.ObserveClaim(live)
	return live.Spec.NodeUID == string(node.UID), nil
}

// releaseClaims deletes the claims of the given blocks (or /32 addresses) held by the Node
// incarnation uid: what an all-or-nothing allocation claimed before it fell short.
func (r *NodeReconciler) releaseClaims(ctx context.Context, uid string, blocks []netip.Prefix) error {
	for _, b := range blocks {
		if err := r.deleteClaim(ctx, ClaimRef{Name: ClaimName(b), NodeUID: uid}); err != nil {
			return err
		}
	}
	return nil
}

func newClaim(node *corev1.Node, f v1.IPFamily, block netip.Prefix) *v1.BlockClaim {
	return &v1.BlockClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name:   ClaimName(block),
			Labels: map[string]string{LabelNodeUID: string(node.UID)},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Spec: v1.BlockClaimSpec{Block: block.String(), Family: f, NodeName: node.Name, NodeUID: string(node.UID)},
	}
}

// dropExtraClaims deletes the claims of this Node that its published status does not name:
// left by a crash, or by a second manager that lost the status race.
func (r *NodeReconciler) dropExtraClaims(ctx context.Context, node *corev1.Node, st *v1.NodeNetworkConfigStatus) error {
	if !meta.IsStatusConditionTrue(st.Conditions, v1.NodeAllocated) {
		return nil
	}
	for f, blocks := range r.Alloc.ClaimsOf(string(node.UID)) {
		for _, b := range blocks {
			reservation := b.Bits() == b.Addr().BitLen()
			if st.Mode == v1.ModeNodeSubnet && reservation {
				continue // the node's reserved pod addresses
			}
			if !slices.Contains(st.PodCIDRs, b.String()) {
				ctrl.LoggerFrom(ctx).V(1).Info("Releasing an extra block claim", "block", b, "family", f)
				if err := r.deleteClaim(ctx, ClaimRef{Name: ClaimName(b), NodeUID: string(node.UID)}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// fillNodeFacts writes what the node agent needs besides the blocks.
func fillNodeFacts(st *v1.NodeNetworkConfigStatus, node *corev1.Node, cfg *netconf.Config) {
	st.Mode = cfg.Mode
	st.MaxPods = cfg.MaxPodsFor(node.Labels)
	st.ClusterPodCIDRs = netconf.Strings(cfg.ClusterPodCIDRs())
	st.NonMasqueradeCIDRs = netconf.Strings(cfg.NonMasqueradeCIDRs())
	st.NodeIPs = nil
	for _, f := range cfg.Families {
		if ip := nodeIP(node, f); ip.IsValid() {
			st.NodeIPs = append(st.NodeIPs, ip.String())
		}
	}
}

// nodeIP returns the Node's first InternalIP of a family.
func nodeIP(node *corev1.Node, f v1.IPFamily) netip.Addr {
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && netconf.FamilyOf(ip) == f {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

func setAllocated(st *v1.NodeNetworkConfigStatus, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1.NodeAllocated, Status: status, Reason: reason, Message: msg})
}

// writeStatus publishes desired when it differs from what is there. The update carries the
// resourceVersion read, so it is a compare-and-swap: of two managers deciding at once, one
// wins and the other re-reads (B4).
func (r *NodeReconciler) writeStatus(ctx context.Context, nnc *v1.NodeNetworkConfig, desired *v1.NodeNetworkConfigStatus) error {
	if statusEqual(&nnc.Status, desired) {
		return nil
	}
	next := nnc.DeepCopy()
	next.Status = *desired
	if err := r.Status().Update(ctx, next); err != nil {
		r.written.Delete(nnc.Name) // re-read from the cache on the retry
		return fmt.Errorf("writing NodeNetworkConfig %s status: %w", nnc.Name, err)
	}
	r.written.Store(nnc.Name, next)
	return nil
}

// statusEqual compares two statuses, ignoring condition timestamps and the agent's
// condition.
func statusEqual(a, b *v1.NodeNetworkConfigStatus) bool {
	if a.Mode != b.Mode || a.MaxPods != b.MaxPods || !slices.Equal(a.PodCIDRs, b.PodCIDRs) ||
		!slices.Equal(a.ReservedIPs, b.ReservedIPs) || a.NodeSubnet != b.NodeSubnet || !slices.Equal(a.NodeIPs, b.NodeIPs) ||
		!slices.Equal(a.ClusterPodCIDRs, b.ClusterPodCIDRs) || !slices.Equal(a.NonMasqueradeCIDRs, b.NonMasqueradeCIDRs) {
		return false
	}
	ca, cb := meta.FindStatusCondition(a.Conditions, v1.NodeAllocated), meta.FindStatusCondition(b.Conditions, v1.NodeAllocated)
	if ca == nil || cb == nil {
		return ca == cb
	}
	return ca.Status == cb.Status && ca.Reason == cb.Reason && ca.Message == cb.Message
}

// nodeKey is a convenience for mapping functions.
func nodeKey(name string) ctrl.Request {
	return ctrl.Request{NamespacedName: types.NamespacedName{Name: name}}
}
