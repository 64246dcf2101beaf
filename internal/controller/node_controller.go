package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/allocation"
	"github.com/overlaynet/overlaynet/internal/ipam"
	"github.com/overlaynet/overlaynet/internal/netconf"
	"github.com/overlaynet/overlaynet/internal/nodesubnet"
)

// Why claims, and why this order of writes.
//
// No block may ever be held by two nodes (B4): not across restarts, leader changes, two
// managers running at once, API errors, or a Node recreated under the same name. An
// in-memory allocator alone cannot promise that, because two processes each have one. So
// the API server is made to enforce it: every block is claimed by creating a BlockClaim
// whose name is derived from the block alone (allocation.ClaimName). Names are unique, so
// of two concurrent claims for one block exactly one Create succeeds, whoever sent it —
// the same design Kubernetes uses for Service IPs (IPAddress objects).
//
// The per-node write order is: the claims, then the NodeNetworkConfig whose spec names the
// blocks (bound to the Node's UID; created with them, or updated with a compare-and-swap on
// its resourceVersion). A crash between any two writes leaves a state the next reconcile
// resolves without loss or duplicate:
//   - a claim without a NodeNetworkConfig naming it: the claim carries the Node's name and
//     UID, so it is adopted;
//   - a NodeNetworkConfig naming a block without its claim cannot be written by us, since
//     the spec follows the claim; one naming a block the Node holds no claim for (written by
//     someone else) is never adopted: it is overwritten from the claims;
//   - claims whose holder matches no live Node (another UID, an empty one, or no Node of
//     that name): released by the reconcile of that name, and by the garbage collector
//     through the claim's ownerReference.
//
// Two managers may claim different blocks for one node at once. Only one of their creates
// of the NodeNetworkConfig succeeds (names are unique), and a later change of its spec is a
// compare-and-swap on its resourceVersion, so only one of the two choices is ever
// published; the loser gets AlreadyExists or Conflict, re-reads, adopts the published block
// and deletes its own extra claim. A claim is deleted only after the spec that names
// another block is written, so a published block always has its claim.
//
// Writes per node: two (B8). The claim must be its own object named after the block
// (uniqueness by name, B4), and the NodeNetworkConfig's create carries the allocation in
// its spec, so a node allocated at once costs those two writes and no status write: its
// Allocated condition is written only when it has something to say (the node waits, a
// wait ended, or a note such as NodeSubnet's IPv4-only pods). Two ways down from three
// writes were weighed: (a) this one, the allocation in the spec written by the create that
// follows the claim, with the loser of a race adopting the object it finds and releasing
// its spare claim; (b) claims for runs of blocks updated with a compare-and-swap, so that a
// burst of nodes shares claim writes. (b) still costs the NodeNetworkConfig's create and
// status write, so it stays above two writes per node however long the runs; it makes every
// release a read-modify-write of a shared object that every manager contends on, and the
// crash analysis above harder. (a) also matches Kubernetes' own split: what a controller
// decides for a node is spec (a Node's spec.podCIDRs), what the node reports is status (the
// agent's Programmed condition, whose observedGeneration now follows every change of the
// allocation). The cluster-wide facts every node shares (pod CIDRs, no-SNAT ranges, the
// node network) are in the OverlayCluster status, written once for everyone, and no longer
// copied into every NodeNetworkConfig.

// NodeReconciler gives every Node a NodeNetworkConfig holding its blocks (R10, R11) and
// releases what a Node held once that Node is gone (B4).
type NodeReconciler struct {
	client.Client
	// APIReader reads from the API server, bypassing the cache: used to check a published
	// block's claim before trusting it. Nil means the cached client.
	APIReader client.Reader
	// Alloc is the shared view of claims and pools.
	Alloc *allocation.State
	// Clusters resolves the OverlayCluster into its configuration.
	Clusters *ClusterState
	// Recorder emits events when a status someone else wrote is repaired; may be nil.
	Recorder events.EventRecorder
	// subnetMu serialises NodeSubnet reservations within this process.
	subnetMu sync.Mutex
	// written remembers this process's last NNC write per node, so that a cache which
	// has not caught up with it is not mistaken for the truth.
	written expectations
	// agreed remembers, per node, the fingerprint of the last status the controller
	// wanted and found or wrote; a status that moves away from it while the wanted one
	// stays the same was changed by someone else, and its repair is reported.
	agreed sync.Map // node name -> string
}

// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=network.overlaynet.io,resources=nodenetworkconfigs,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=network.overlaynet.io,resources=nodenetworkconfigs/status,verbs=update
// +kubebuilder:rbac:groups=network.overlaynet.io,resources=blockclaims,verbs=get;list;watch;create;delete

// nodeScope is what one reconcile of a live Node works on; the steps below fill it in turn.
type nodeScope struct {
	node *corev1.Node
	// cfg is the configuration to allocate with (nil without a usable one), prob why the
	// newest spec cannot be used.
	cfg  *netconf.Config
	prob *problem
	// nnc is the Node's NodeNetworkConfig as last written (the cache, or our own write
	// when the cache lags), nil before it is created; desired is the spec being built and
	// conds the status conditions (the Allocated condition is set as the steps decide).
	nnc     *v1.NodeNetworkConfig
	desired *v1.NodeNetworkConfigSpec
	conds   []metav1.Condition
	// ips are the Node's usable addresses per family; ipProblem says why one is missing.
	ips       map[v1.IPFamily]netip.Addr
	ipProblem string
	// wait is set when the node cannot be allocated now and waits for space.
	wait *exhaustedError
	// note is a remark the Allocated condition must carry although the node is allocated
	// (an Allocated=True condition is written only with one, or when a wait ends).
	note string
	// done stops the remaining steps.
	done bool
}

// nodeStep is one step of a node reconcile.
type nodeStep func(ctx context.Context, s *nodeScope) error

// steps lists a live Node's reconcile in order.
func (r *NodeReconciler) steps() []nodeStep {
	return []nodeStep{
		r.releaseEarlierIncarnations, // what an earlier Node of the same name held (B4)
		r.resolveConfig,              // the OverlayCluster's effective configuration
		r.loadNNC,                    // the NodeNetworkConfig bound to this Node's UID, if any
		r.selectNodeIPs,              // usable, unique node addresses
		r.allocate,                   // blocks or reservations, all or nothing
		r.fillNodeFacts,              // mode (a migration reaching the node, R51, R53), max pods, node IPs
		r.writeNNC,                   // create, or one compare-and-swap spec write, if it changed
		r.dropExtraClaims,            // spares left by a crash or a lost race
	}
}

// Reconcile allocates for one Node.
func (r *NodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	node := &corev1.Node{}
	if req.Name == "" {
		// Claims written without a node name: they match no Node.
		return ctrl.Result{}, r.reconcileDelete(ctx, "", "")
	}
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
	s := &nodeScope{node: node}
	for _, step := range r.steps() {
		if err := step(ctx, s); err != nil || s.done {
			return ctrl.Result{}, err
		}
	}
	if s.wait != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("Node waits", "reason", s.wait.reason, "node", klog.KObj(node))
	}
	return ctrl.Result{}, nil // a waiting node is retried when space appears
}

func (r *NodeReconciler) releaseEarlierIncarnations(ctx context.Context, s *nodeScope) error {
	return r.reconcileDelete(ctx, s.node.Name, string(s.node.UID))
}

// reconcileDelete releases the claims and the NNC that a Node name holds under any UID but
// liveUID (every one when liveUID is empty: there is no such Node). The garbage collector
// does the same through ownerReferences; doing it here frees blocks at once, works on
// clusters without one, and catches claims without an ownerReference.
func (r *NodeReconciler) reconcileDelete(ctx context.Context, name, liveUID string) error {
	for _, c := range r.Alloc.StaleClaims(name, liveUID) {
		if err := r.deleteClaim(ctx, c); err != nil {
			return err
		}
		if c.NodeUID == "" {
			ctrl.LoggerFrom(ctx).Info("Released a block claim whose holder matches no Node", "claim", c.Name, "nodeName", name)
		}
	}
	if name == "" {
		return nil
	}
	nnc := &v1.NodeNetworkConfig{}
	if err := r.Get(ctx, client.ObjectKey{Name: name}, nnc); err != nil {
		return client.IgnoreNotFound(err)
	}
	if (liveUID != "" && nnc.Spec.NodeUID == liveUID) || !nnc.DeletionTimestamp.IsZero() {
		return nil
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Deleting the NodeNetworkConfig of a Node that is gone", "staleUID", nnc.Spec.NodeUID)
	r.written.forget(name)
	r.agreed.Delete(name)
	err := r.Delete(ctx, nnc, client.Preconditions{UID: &nnc.UID})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func (r *NodeReconciler) deleteClaim(ctx context.Context, c allocation.ClaimRef) error {
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

func (r *NodeReconciler) resolveConfig(ctx context.Context, s *nodeScope) error {
	var err error
	s.cfg, s.prob, err = r.Clusters.Current(ctx)
	return err
}

// loadNNC finds the Node's NodeNetworkConfig (the create comes with the allocation, in
// writeNNC). It stops the reconcile while an NNC of an earlier Node is still being removed.
func (r *NodeReconciler) loadNNC(ctx context.Context, s *nodeScope) error {
	node := s.node
	nnc := &v1.NodeNetworkConfig{}
	err := r.Get(ctx, client.ObjectKey{Name: node.Name}, nnc)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if w := r.written.latest(node.Name); w != nil {
		switch {
		case apierrors.IsNotFound(err):
			nnc, err = w, nil // created by us, not in the cache yet
		case nnc.UID != w.UID || nnc.ResourceVersion == w.ResourceVersion:
			r.written.forget(node.Name) // replaced, or the cache caught up
		case !specEqual(&nnc.Spec, &w.Spec) || !allocatedEqual(nnc.Status.Conditions, w.Status.Conditions):
			// The cache still shows what our last write replaced: the watch event of our
			// write has not been handled yet (the handler forgets the expectation when it
			// is). If someone else wrote after us, the compare-and-swap below fails, or
			// the event of their write brings us back once ours is seen.
			nnc = w
		}
	}
	if err != nil {
		mode := v1.NetworkMode("")
		if s.cfg != nil {
			mode = s.cfg.Mode
		}
		s.desired = &v1.NodeNetworkConfigSpec{NodeUID: string(node.UID), Mode: mode}
		return nil
	}
	if nnc.Spec.NodeUID != string(node.UID) {
		s.done = true // reconcileDelete removes it; its delete event brings us back
		return nil
	}
	s.nnc, s.desired = nnc, nnc.Spec.DeepCopy()
	s.conds = slices.Clone(nnc.Status.Conditions)
	return nil
}

// published returns the blocks the Node's NodeNetworkConfig names, if it has one.
func (s *nodeScope) published() []string {
	if s.nnc == nil {
		return nil
	}
	return s.nnc.Spec.PodCIDRs
}

// selectNodeIPs picks the Node's usable address of every family its mode needs.
func (r *NodeReconciler) selectNodeIPs(ctx context.Context, s *nodeScope) error {
	if s.cfg == nil {
		return nil
	}
	families := s.cfg.Families
	if s.cfg.Mode == v1.ModeNodeSubnet {
		families = families[:1] // NodeSubnet pods are IPv4 only
	}
	var err error
	s.ips, s.ipProblem, err = usableNodeIPs(ctx, r.Client, s.node, s.cfg.VNetCIDRs, families)
	return err
}

// allocate gives the node its blocks (Overlay, Kubenet) or reservations (NodeSubnet), or
// says why it waits. A node that holds blocks keeps them whatever happens to the
// configuration; what it publishes is always backed by its own claims.
func (r *NodeReconciler) allocate(ctx context.Context, s *nodeScope) error {
	var err error
	switch {
	case s.cfg == nil || s.prob != nil:
		// No configuration, or the newest spec breaks a rule: nothing new is allocated.
		// Nodes that hold blocks keep them; the others wait for a valid spec.
		r.keepClaimed(s)
		if s.nnc == nil || !s.nnc.IsAllocated() || len(s.desired.PodCIDRs)+len(s.desired.ReservedIPs) == 0 {
			err = r.waitFor(s, &exhaustedError{s.prob.reason, s.prob.message})
		}
	case s.ipProblem != "":
		r.keepClaimed(s)
		err = r.waitFor(s, &exhaustedError{v1.ReasonNoNodeIP, s.ipProblem})
	case s.cfg.Mode == v1.ModeNodeSubnet:
		err = r.reserveAddresses(ctx, s)
	default:
		start := time.Now()
		err = r.allocateBlocks(ctx, s)
		if err == nil && s.wait == nil {
			allocationLatency.Observe(time.Since(start).Seconds())
		}
	}
	return err
}

// keepClaimed reduces the published blocks and reservations to those the Node's claims
// back: a status naming anything else was not written by a controller.
func (r *NodeReconciler) keepClaimed(s *nodeScope) {
	held := r.Alloc.ClaimsOf(s.node.Name, string(s.node.UID))
	var blocks []string
	var addrs []netip.Addr
	for _, f := range []v1.IPFamily{v1.IPv4, v1.IPv6} {
		for _, b := range held[f] {
			if b.Bits() == b.Addr().BitLen() {
				addrs = append(addrs, b.Addr())
			} else if slices.Contains(s.desired.PodCIDRs, b.String()) {
				blocks = append(blocks, b.String())
			}
		}
	}
	s.desired.PodCIDRs = blocks
	s.desired.ReservedIPs = nil
	if len(addrs) > 0 {
		s.desired.ReservedIPs = nodesubnet.Compact(addrs)
	} else {
		s.desired.NodeSubnet = ""
	}
}

type exhaustedError struct{ reason, message string }

func (e *exhaustedError) Error() string { return e.message }

// waitFor records that a node waits and says why in its Allocated condition.
func (r *NodeReconciler) waitFor(s *nodeScope, ex *exhaustedError) error {
	allocationFailures.WithLabelValues(ex.reason).Inc()
	r.Alloc.Wait(s.node.Name)
	setAllocated(&s.conds, metav1.ConditionFalse, ex.reason, ex.message)
	s.wait = ex
	return nil
}

// allocateBlocks makes desired hold one claimed block per family, all or nothing.
func (r *NodeReconciler) allocateBlocks(ctx context.Context, s *nodeScope) error {
	node, cfg := s.node, s.cfg
	uid := string(node.UID)
	held := r.Alloc.ClaimsOf(node.Name, uid)
	published := map[v1.IPFamily]netip.Prefix{}
	for _, str := range s.published() {
		if p, err := netip.ParsePrefix(str); err == nil {
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
		r.keepClaimed(s)
		return r.waitFor(s, ex)
	}
	r.Alloc.Unwait(node.Name)
	s.desired.ReservedIPs = nil // node-subnet reservations end with the Overlay block (R50)
	s.desired.NodeSubnet = ""
	s.desired.PodCIDRs = make([]string, len(blocks))
	for i, b := range blocks {
		s.desired.PodCIDRs[i] = b.String()
	}
	for _, b := range fresh {
		allocations.WithLabelValues(string(netconf.FamilyOf(b.Addr()))).Inc()
	}
	s.allocated(fmt.Sprintf("holds %v", s.desired.PodCIDRs))
	return nil
}

// blockFor picks the Node's block of one family: the published one while this Node holds
// its claim, else one it already claims (a crash left it unpublished), else a new claim.
// isNew reports a new claim.
func (r *NodeReconciler) blockFor(ctx context.Context, node *corev1.Node, cfg *netconf.Config, f v1.IPFamily, published netip.Prefix, held []netip.Prefix) (block netip.Prefix, isNew bool, err error) {
	if published.IsValid() {
		if slices.Contains(held, published) {
			return published, false, nil
		}
		// Published but not in our view of the claims: the cache may lag behind a claim
		// written by another manager. The API server says whether this Node holds it; a
		// block it does not hold is never adopted.
		ok, err := r.holds(ctx, node, published)
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

// holds reports whether the API server has a well-formed claim of block for this Node
// (name and UID) that the pools accept.
func (r *NodeReconciler) holds(ctx context.Context, node *corev1.Node, block netip.Prefix) (bool, error) {
	if !r.Alloc.Valid(netconf.FamilyOf(block.Addr()), block) {
		return false, nil
	}
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	live := &v1.BlockClaim{}
	if err := reader.Get(ctx, client.ObjectKey{Name: allocation.ClaimName(block)}, live); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if live.Spec.NodeName != node.Name || live.Spec.NodeUID != string(node.UID) {
		return false, nil
	}
	return r.Alloc.ObserveClaim(live) == nil, nil
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
		if errors.Is(err, allocation.ErrLimit) {
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
			_ = r.Alloc.ObserveClaim(c)
			return block, nil
		case apierrors.IsAlreadyExists(err):
			r.Alloc.MarkTaken(block)
			conflicts.Inc()
		default:
			r.Alloc.Unreserve(block)
			return netip.Prefix{}, fmt.Errorf("claiming block %s for node %q: %w", block, node.Name, err)
		}
	}
}

// releaseClaims deletes the claims of the given blocks (or /32 addresses) held by the Node
// incarnation uid: what an all-or-nothing allocation claimed before it fell short.
func (r *NodeReconciler) releaseClaims(ctx context.Context, uid string, blocks []netip.Prefix) error {
	for _, b := range blocks {
		if err := r.deleteClaim(ctx, allocation.ClaimRef{Name: allocation.ClaimName(b), NodeUID: uid}); err != nil {
			return err
		}
	}
	return nil
}

func newClaim(node *corev1.Node, f v1.IPFamily, block netip.Prefix) *v1.BlockClaim {
	return &v1.BlockClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: allocation.ClaimName(block),
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
func (r *NodeReconciler) dropExtraClaims(ctx context.Context, s *nodeScope) error {
	st := s.desired
	if !isAllocated(st, s.conds) {
		return nil // writeNNC published st; a node that waits keeps its claims
	}
	for f, blocks := range r.Alloc.ClaimsOf(s.node.Name, string(s.node.UID)) {
		for _, b := range blocks {
			reservation := b.Bits() == b.Addr().BitLen()
			if st.Mode == v1.ModeNodeSubnet && reservation {
				continue // the node's reserved pod addresses
			}
			if !slices.Contains(st.PodCIDRs, b.String()) {
				ctrl.LoggerFrom(ctx).V(1).Info("Releasing an extra block claim", "block", b, "family", f)
				if err := r.deleteClaim(ctx, allocation.ClaimRef{Name: allocation.ClaimName(b), NodeUID: string(s.node.UID)}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// fillNodeFacts writes what the node agent needs besides the blocks. The mode moves to the
// configuration's once the node holds what that mode needs: a migration reaching the node
// (R51, R53) changes its mode and its blocks in one write, which bumps the generation that
// the agent's Programmed condition then has to catch up with.
func (r *NodeReconciler) fillNodeFacts(ctx context.Context, s *nodeScope) error {
	cfg, st := s.cfg, s.desired
	if cfg == nil {
		return nil
	}
	if st.Mode != cfg.Mode && s.prob == nil && isAllocated(st, s.conds) {
		if s.nnc != nil {
			ctrl.LoggerFrom(ctx).Info("Node moves to the new network mode", "from", st.Mode, "mode", cfg.Mode)
		}
		st.Mode = cfg.Mode
	}
	st.MaxPods = cfg.MaxPodsFor(s.node.Labels)
	st.NodeIPs = nil
	for _, f := range cfg.Families {
		if ip, ok := s.ips[f]; ok {
			st.NodeIPs = append(st.NodeIPs, ip.String())
		}
	}
	return nil
}

func setAllocated(conds *[]metav1.Condition, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: v1.NodeAllocated, Status: status, Reason: reason, Message: msg})
}

// allocated records that the node holds what it needs. The Allocated condition is set to
// True only where there is one already (a wait ends) or a note to carry: a node allocated
// at once has its allocation in spec and needs no status write (B8).
func (s *nodeScope) allocated(msg string) {
	if s.note != "" {
		msg += "; " + s.note
	}
	if s.note != "" || meta.FindStatusCondition(s.conds, v1.NodeAllocated) != nil {
		setAllocated(&s.conds, metav1.ConditionTrue, v1.ReasonAllocated, msg)
	}
}

// isAllocated is NodeNetworkConfig.IsAllocated for a spec and conditions being built.
func isAllocated(spec *v1.NodeNetworkConfigSpec, conds []metav1.Condition) bool {
	nnc := v1.NodeNetworkConfig{Spec: *spec, Status: v1.NodeNetworkConfigStatus{Conditions: conds}}
	return nnc.IsAllocated()
}

// writeNNC publishes desired when it differs from what is there: the create of the
// NodeNetworkConfig carries it, and a later change is an update carrying the
// resourceVersion read, so it is a compare-and-swap: of two managers deciding at once, one
// wins and the other re-reads (B4). The Allocated condition is written, with a second
// compare-and-swap, only when it changed. An allocation that someone else moved away from
// what the controller wants is repaired here, and the repair is reported with an event.
func (r *NodeReconciler) writeNNC(ctx context.Context, s *nodeScope) error {
	want := fingerprint(s.desired, s.conds)
	tampered := "" // fields someone else changed, reported once for both writes
	if s.nnc != nil && (!specEqual(&s.nnc.Spec, s.desired) || !allocatedEqual(s.nnc.Status.Conditions, s.conds)) {
		tampered = r.tampering(s, want)
	}
	if s.nnc == nil {
		if err := r.createNNC(ctx, s); err != nil {
			return err
		}
	} else if !specEqual(&s.nnc.Spec, s.desired) {
		next := s.nnc.DeepCopy()
		next.Spec = *s.desired
		if err := r.Update(ctx, next); err != nil {
			r.written.forget(next.Name) // re-read from the cache on the retry
			return fmt.Errorf("writing NodeNetworkConfig %s: %w", next.Name, err)
		}
		r.written.store(next)
		s.nnc = next
	}
	if !allocatedEqual(s.nnc.Status.Conditions, s.conds) {
		next := s.nnc.DeepCopy()
		next.Status.Conditions = s.conds
		if err := r.Status().Update(ctx, next); err != nil {
			r.written.forget(next.Name)
			return fmt.Errorf("writing NodeNetworkConfig %s status: %w", next.Name, err)
		}
		r.written.store(next)
		s.nnc = next
	}
	r.reportRepair(ctx, s.nnc, tampered)
	r.agreed.Store(s.nnc.Name, want)
	return nil
}

// createNNC creates the Node's NodeNetworkConfig, bound to its UID, with the allocation.
func (r *NodeReconciler) createNNC(ctx context.Context, s *nodeScope) error {
	node := s.node
	nnc := &v1.NodeNetworkConfig{
		ObjectMeta: metav1.ObjectMeta{
			Name: node.Name,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Spec: *s.desired,
	}
	if err := r.Create(ctx, nnc); err != nil {
		// AlreadyExists: another manager published first (or our cache lags behind
		// an earlier create); the retry reads it, adopts its blocks and releases ours.
		return fmt.Errorf("creating NodeNetworkConfig %s: %w", node.Name, err)
	}
	r.written.store(nnc)
	s.nnc = nnc
	return nil
}

// reportRepair reports a repair of fields someone else changed.
func (r *NodeReconciler) reportRepair(ctx context.Context, nnc *v1.NodeNetworkConfig, tampered string) {
	if tampered == "" {
		return
	}
	statusRepairs.Inc()
	ctrl.LoggerFrom(ctx).Info("Repaired a NodeNetworkConfig written by someone else", "fields", tampered)
	if r.Recorder != nil {
		r.Recorder.Eventf(nnc, nil, corev1.EventTypeWarning, v1.ReasonStatusRepaired, "Repair",
			"fields %s did not match the node's block claims and the OverlayCluster; rewrote them", tampered)
	}
}

// tampering names the fields of a NodeNetworkConfig that someone else changed: fields that
// moved away from what the controller last agreed with while what it wants stayed the
// same, and blocks published without this Node's claim.
func (r *NodeReconciler) tampering(s *nodeScope, want string) string {
	prev, known := r.agreed.Load(s.nnc.Name)
	unclaimed := false
	for _, b := range s.nnc.Spec.PodCIDRs {
		if !slices.Contains(s.desired.PodCIDRs, b) {
			unclaimed = true
		}
	}
	if (!known || prev.(string) != want) && !unclaimed {
		return ""
	}
	return strings.Join(diffFields(&s.nnc.Spec, s.nnc.Status.Conditions, s.desired, s.conds), ", ")
}

// diffFields names the fields the controller owns that differ.
func diffFields(a *v1.NodeNetworkConfigSpec, ac []metav1.Condition, b *v1.NodeNetworkConfigSpec, bc []metav1.Condition) []string {
	var out []string
	add := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	add("spec.mode", a.Mode != b.Mode)
	add("spec.podCIDRs", !slices.Equal(a.PodCIDRs, b.PodCIDRs))
	add("spec.reservedIPs", !slices.Equal(a.ReservedIPs, b.ReservedIPs))
	add("spec.nodeSubnet", a.NodeSubnet != b.NodeSubnet)
	add("spec.nodeIPs", !slices.Equal(a.NodeIPs, b.NodeIPs))
	add("spec.maxPods", a.MaxPods != b.MaxPods)
	add("status.conditions[Allocated]", !allocatedEqual(ac, bc))
	return out
}

// specEqual compares two specs.
func specEqual(a, b *v1.NodeNetworkConfigSpec) bool {
	return a.NodeUID == b.NodeUID && len(diffFields(a, nil, b, nil)) == 0
}

// allocatedEqual compares the Allocated conditions of two condition lists, ignoring
// timestamps.
func allocatedEqual(a, b []metav1.Condition) bool {
	ca, cb := meta.FindStatusCondition(a, v1.NodeAllocated), meta.FindStatusCondition(b, v1.NodeAllocated)
	return (ca == nil) == (cb == nil) && (ca == nil || (ca.Status == cb.Status && ca.Reason == cb.Reason && ca.Message == cb.Message))
}

// fingerprint renders the fields the controller owns, for comparisons over time.
func fingerprint(st *v1.NodeNetworkConfigSpec, conds []metav1.Condition) string {
	c := meta.FindStatusCondition(conds, v1.NodeAllocated)
	cond := ""
	if c != nil {
		cond = string(c.Status) + "/" + c.Reason + "/" + c.Message
	}
	return fmt.Sprintf("%s|%v|%v|%s|%v|%d|%s", st.Mode, st.PodCIDRs, st.ReservedIPs, st.NodeSubnet, st.NodeIPs, st.MaxPods, cond)
}

// nodeKey is a convenience for mapping functions.
func nodeKey(name string) ctrl.Request {
	return ctrl.Request{NamespacedName: types.NamespacedName{Name: name}}
}

// expectations remembers this process's last write of each NodeNetworkConfig until the
// cache shows it ("read your own writes"). The NNC event handler calls seen for every
// object it receives; an expectation older than expectationTTL is dropped, so a lost watch
// event cannot pin a stale view.
type expectations struct {
	m sync.Map // node name -> expectation
}

type expectation struct {
	nnc *v1.NodeNetworkConfig
	at  time.Time
}

const expectationTTL = 30 * time.Second

func (e *expectations) store(nnc *v1.NodeNetworkConfig) {
	e.m.Store(nnc.Name, expectation{nnc: nnc.DeepCopy(), at: time.Now()})
}

func (e *expectations) forget(name string) { e.m.Delete(name) }

// latest returns a copy of the last write not yet seen in the cache, or nil.
func (e *expectations) latest(name string) *v1.NodeNetworkConfig {
	v, ok := e.m.Load(name)
	if !ok {
		return nil
	}
	x := v.(expectation)
	if time.Since(x.at) > expectationTTL {
		e.m.CompareAndDelete(name, v)
		return nil
	}
	return x.nnc.DeepCopy()
}

// seen forgets the expectation of name once the cache delivers that write.
func (e *expectations) seen(nnc *v1.NodeNetworkConfig) {
	if v, ok := e.m.Load(nnc.Name); ok {
		if x := v.(expectation); x.nnc.UID != nnc.UID || x.nnc.ResourceVersion == nnc.ResourceVersion {
			e.m.CompareAndDelete(nnc.Name, v)
		}
	}
}
