// Package agent is the overlaynet node agent: it watches its own NodeNetworkConfig and its
// peers', decides the datapath with the pure package desired, has a datapath backend
// program it, writes the node's CNI configuration, and reports the Programmed condition.
//
// One reconcile key, the node itself, stands for "the datapath": every relevant change of
// any NodeNetworkConfig enqueues it, the workqueue folds bursts into one reconcile, and each
// reconcile applies the difference incrementally. The watch's events also feed a peer index
// (desired.PeerIndex) with the objects that changed, so that a reconcile parses, checks and
// programs only those: a peer joining or leaving costs every agent the same in a cluster
// of 50 nodes and of 65,536 (B8). A full resync that lists every object (parsing only
// those that changed) and reads the kernel back runs at start-up and every ResyncPeriod to
// repair drift.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// Defaults of Options.
const (
	DefaultCNIConfDir   = "/etc/cni/net.d"
	DefaultCNIBinDir    = "/opt/cni/bin"
	DefaultCNIConfName  = "10-overlaynet.conflist"
	DefaultResyncPeriod = 5 * time.Minute
	// LegacyRecheckPeriod is how often the agent rereads the pods' addresses while pods
	// hold addresses from an earlier mode.
	LegacyRecheckPeriod = 30 * time.Second
	// FieldManager owns the Programmed condition, and only it, in server-side apply.
	FieldManager = "overlaynet-agent"
)

// Options configure an agent.
type Options struct {
	// NodeName is the agent's node, and the name of its NodeNetworkConfig. Required.
	NodeName string
	// Datapath programs the node's network namespace. Required.
	Datapath datapath.Backend
	// CNIConfDir is the container runtime's CNI configuration directory.
	CNIConfDir string
	// CNIConfName is the file the agent owns in CNIConfDir. Runtimes take the first file in
	// lexical order, hence the "10-" prefix.
	CNIConfName string
	// CNIBinDir is where the runtime finds CNI plugins; the agent checks that every plugin
	// the runtime will call (the configuration's and loopback) is executable there before
	// it writes a configuration naming them, and reports Programmed=False otherwise.
	// Empty skips the check.
	CNIBinDir string
	// CNI tunes the generated configuration.
	CNI desired.CNIOptions
	// ResyncPeriod is the interval of full resyncs that repair drift.
	ResyncPeriod time.Duration
	// Recorder emits a Warning event on the node's own NodeNetworkConfig when a peer is
	// first skipped for breaking the rules, or for new reasons (B7). Nil emits none;
	// SetupWithManager fills it from the manager.
	Recorder events.EventRecorder
}

func (o *Options) setDefaults() error {
	if o.NodeName == "" {
		return errors.New("the agent needs its node name")
	}
	if o.Datapath == nil {
		return errors.New("the agent needs a datapath backend")
	}
	if o.CNIConfDir == "" {
		o.CNIConfDir = DefaultCNIConfDir
	}
	if o.CNIConfName == "" {
		o.CNIConfName = DefaultCNIConfName
	}
	if o.ResyncPeriod <= 0 {
		o.ResyncPeriod = DefaultResyncPeriod
	}
	return nil
}

// Agent reconciles one node's datapath.
type Agent struct {
	client client.Client
	opts   Options

	mu sync.Mutex
	// lastFull is when the last successful full resync started.
	lastFull time.Time
	// lastWarnings are the warnings logged by the previous reconcile; only new ones are
	// logged again.
	lastWarnings []string
	// programmed is set once the datapath was programmed without error (readiness).
	programmed bool
	// lastSkipped are the problems of each peer skipped by the previous reconcile; an event
	// is emitted only for a peer that is new here or whose problems changed.
	lastSkipped map[string]string

	// peers holds the peers parsed and checked, and what they contribute to the datapath.
	// Reconciles run one at a time (one worker, one key), which is all the synchronisation
	// it needs. needFull is set when the backend may not hold what the index last said
	// (a failed apply): the next reconcile applies the whole datapath.
	peers    desired.PeerIndex
	needFull bool

	// events are the objects the watch delivered since the last reconcile, by name (nil for
	// one deleted); watched is set once the watch feeds them, else every reconcile lists.
	eventsMu sync.Mutex
	events   map[string]*v1alpha1.NodeNetworkConfig
	watched  bool
}

// New returns the agent of opts.NodeName, reading and writing through c.
func New(c client.Client, opts Options) (*Agent, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	return &Agent{client: c, opts: opts}, nil
}

// SetupWithManager creates the node's agent and registers it with mgr. The manager's cache
// should come from ManagerOptions, which restricts it to what the agent needs.
func SetupWithManager(mgr ctrl.Manager, opts Options) (*Agent, error) {
	if opts.Recorder == nil {
		opts.Recorder = mgr.GetEventRecorder("overlaynet-agent")
	}
	a, err := New(mgr.GetClient(), opts)
	if err != nil {
		return nil, err
	}
	self := a.opts.NodeName
	toSelf := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: self}}}
	})
	a.watched = true
	err = ctrl.NewControllerManagedBy(mgr).
		Named("nodeagent").
		Watches(&v1alpha1.NodeNetworkConfig{}, a.peerEvents(), builder.WithPredicates(relevantChange(self))).
		// The cluster's facts (status) and its crossSubnet setting (spec) wake the agent;
		// the counts in its status do not.
		Watches(&v1alpha1.OverlayCluster{}, toSelf, builder.WithPredicates(predicate.Or(clusterFactsChange(), predicate.GenerationChangedPredicate{}))).
		Complete(a)
	if err != nil {
		return nil, fmt.Errorf("setting up the node agent: %w", err)
	}
	return a, nil
}

// peerEvents records each NodeNetworkConfig the watch delivers for the next reconcile's
// peer index, and wakes it.
func (a *Agent) peerEvents() handler.EventHandler {
	self := reconcile.Request{NamespacedName: types.NamespacedName{Name: a.opts.NodeName}}
	record := func(obj client.Object, gone bool) {
		nnc, ok := obj.(*v1alpha1.NodeNetworkConfig)
		if !ok {
			return
		}
		a.eventsMu.Lock()
		defer a.eventsMu.Unlock()
		if a.events == nil {
			a.events = map[string]*v1alpha1.NodeNetworkConfig{}
		}
		if gone {
			nnc = nil
		}
		a.events[obj.GetName()] = nnc
	}
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	return handler.Funcs{
		CreateFunc:  func(_ context.Context, e event.CreateEvent, q queue) { record(e.Object, false); q.Add(self) },
		UpdateFunc:  func(_ context.Context, e event.UpdateEvent, q queue) { record(e.ObjectNew, false); q.Add(self) },
		DeleteFunc:  func(_ context.Context, e event.DeleteEvent, q queue) { record(e.Object, true); q.Add(self) },
		GenericFunc: func(_ context.Context, e event.GenericEvent, q queue) { record(e.Object, false); q.Add(self) },
	}
}

// updatePeers hands the peer index what changed: the watch's events, or, on a full resync
// and when no watch feeds it (tests), every object listed, of which it parses only the
// changed ones.
func (a *Agent) updatePeers(ctx context.Context, full bool) error {
	a.eventsMu.Lock()
	events := a.events
	a.events = nil
	a.eventsMu.Unlock()
	for name, nnc := range events {
		if nnc == nil {
			a.peers.Remove(name)
		} else {
			a.peers.Set(nnc)
		}
	}
	if a.watched && !full {
		return nil
	}
	var all v1alpha1.NodeNetworkConfigList
	if err := a.client.List(ctx, &all, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	a.peers.Replace(all.Items)
	return nil
}

// relevantChange passes every event of the node's own object and the events of peers that
// change the datapath: a peer's conditions, including its own Programmed condition, do not.
func relevantChange(self string) predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectNew.GetName() == self {
				return true
			}
			o, ok1 := e.ObjectOld.(*v1alpha1.NodeNetworkConfig)
			n, ok2 := e.ObjectNew.(*v1alpha1.NodeNetworkConfig)
			return !ok1 || !ok2 ||
				!slices.Equal(o.Spec.PodCIDRs, n.Spec.PodCIDRs) ||
				!slices.Equal(o.Spec.NodeIPs, n.Spec.NodeIPs) ||
				o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
		},
	}
}

// clusterFactsChange passes the events of the OverlayCluster that change what the agent
// reads from it (ClusterFacts); the counts the manager updates as nodes come and go do not.
func clusterFactsChange() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*v1alpha1.OverlayCluster)
			n, ok2 := e.ObjectNew.(*v1alpha1.OverlayCluster)
			return !ok1 || !ok2 || !equality.Semantic.DeepEqual(ClusterFacts(&o.Status), ClusterFacts(&n.Status))
		},
	}
}

// ClusterFacts is the part of an OverlayCluster status that the agent reads: the mode, the
// pools' CIDRs and block lengths, the node network and the non-masquerade ranges
// (desired.ClusterFromStatus). Counts are left out.
func ClusterFacts(st *v1alpha1.OverlayClusterStatus) *v1alpha1.OverlayClusterStatus {
	out := &v1alpha1.OverlayClusterStatus{
		Mode:               st.Mode,
		NodeNetworkCIDRs:   st.NodeNetworkCIDRs,
		NonMasqueradeCIDRs: st.NonMasqueradeCIDRs,
	}
	for _, p := range st.Pools {
		out.Pools = append(out.Pools, v1alpha1.PoolStatus{Family: p.Family, CIDRs: p.CIDRs, BlockPrefixLength: p.BlockPrefixLength})
	}
	for _, r := range st.NetworkRules {
		if r.Name == "node-to-node" {
			out.NetworkRules = append(out.NetworkRules, v1alpha1.NetworkRule{Name: r.Name, Sources: r.Sources})
		}
	}
	return out
}

// Reconcile programs the datapath for the current NodeNetworkConfigs.
func (a *Agent) Reconcile(ctx context.Context, _ reconcile.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("node", a.opts.NodeName)
	ctx = ctrl.LoggerInto(ctx, log)

	self := &v1alpha1.NodeNetworkConfig{}
	if err := a.client.Get(ctx, types.NamespacedName{Name: a.opts.NodeName}, self); err != nil {
		if apierrors.IsNotFound(err) {
			// The controller creates it; its creation wakes us. The datapath stays as
			// it is: pods keep working while the object is recreated.
			log.V(1).Info("Waiting for the node's NodeNetworkConfig")
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !self.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	// Without the cluster-wide facts no peer can be checked (B7): the datapath stays as it
	// is, and pods keep working, until the manager publishes them, which wakes us.
	ovc := &v1alpha1.OverlayCluster{}
	if err := a.client.Get(ctx, types.NamespacedName{Name: v1alpha1.ClusterName}, ovc); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	cluster, err := desired.ClusterFromStatus(&ovc.Status) // a missing object has no facts
	switch {
	case errors.Is(err, desired.ErrNoClusterFacts):
		log.V(1).Info("Waiting for the OverlayCluster status")
		return ctrl.Result{}, a.report(ctx, self, notProgrammed(self, ReasonWaitingForCluster,
			"Waiting for the manager to publish the cluster's mode, pod CIDRs and node network in the status of OverlayCluster \"default\"; the datapath is left as it is (B7)"))
	case err != nil:
		// The manager's next write of the status wakes us.
		return ctrl.Result{}, a.report(ctx, self, notProgrammed(self, ReasonInvalidClusterStatus, err.Error()+"; the datapath is left as it is"))
	}
	full := a.resyncDue()
	if err := a.updatePeers(ctx, full); err != nil {
		return ctrl.Result{}, err
	}

	leases, err := readLeases(LeaseDir(a.opts.CNI))
	if err != nil {
		// Only pods left from an earlier mode depend on the leases: program the rest.
		log.Error(err, "Reading the pods' addresses; pods that kept an address from an earlier mode may lose connectivity")
	}
	enc, err := a.crossSubnet(ovc, self)
	if err != nil {
		return ctrl.Result{}, a.report(ctx, self, notProgrammed(self, ReasonEncapsulationFailed, err.Error()))
	}
	want, delta, err := a.peers.Compute(self, cluster, leases, enc.cni, enc.encapsulation())
	if err == nil {
		enc.report(self, want)
	}
	switch {
	case errors.Is(err, desired.ErrNotAllocated):
		log.V(1).Info("Waiting for the node's pod CIDRs")
		return ctrl.Result{}, a.report(ctx, self, notProgrammed(self, ReasonWaitingForAllocation,
			"Waiting for the controller to allocate the node's pod CIDRs"))
	case err != nil:
		// A malformed own status is fixed by the controller, whose write wakes us.
		return ctrl.Result{}, a.report(ctx, self, notProgrammed(self, ReasonInvalidAllocation, err.Error()))
	}
	a.logWarnings(ctx, want.Warnings)
	a.reportSkipped(self, want.Skipped)
	recordSkipped(a.opts.NodeName, want.Skipped)

	cond, nextResync, progErr := a.program(ctx, self, want, delta, full)
	if err := errors.Join(progErr, a.report(ctx, self, cond)); err != nil {
		// The error requeues with backoff; the backend retries a failed part in full.
		return ctrl.Result{}, err
	}
	if hasLegacy(&want.Datapath) {
		// Pods that kept an address from an earlier mode come and go without an API
		// event: look at the leases again soon, so that a stale claim does not linger.
		nextResync = min(nextResync, LegacyRecheckPeriod)
	}
	return ctrl.Result{RequeueAfter: max(nextResync, time.Second)}, nil
}

// resyncDue reports whether this reconcile is a full resync: the first, or ResyncPeriod
// after the last.
func (a *Agent) resyncDue() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastFull.IsZero() || time.Since(a.lastFull) >= a.opts.ResyncPeriod
}

// apply hands the datapath to the backend: only what changed (delta) when the backend
// takes it and nothing else is due, else the whole datapath, which the backend diffs
// against what it left (against the kernel when full).
func (a *Agent) apply(ctx context.Context, want *desired.Result, delta *desired.Delta, full bool) (datapath.Stats, error) {
	if da, ok := a.opts.Datapath.(datapath.DeltaApplier); ok && delta != nil && !full && !a.needFull {
		st, err := da.ApplyDelta(ctx, delta)
		if !errors.Is(err, datapath.ErrFullApplyNeeded) {
			a.needFull = err != nil
			return st, err
		}
	}
	st, err := a.opts.Datapath.Apply(ctx, a.peers.Datapath(want), full)
	a.needFull = err != nil
	return st, err
}

// program applies want to the datapath (in full when a resync is due) and to the CNI
// configuration, and returns the condition to report and the time to the next resync.
func (a *Agent) program(ctx context.Context, self *v1alpha1.NodeNetworkConfig, want *desired.Result, delta *desired.Delta, full bool) (metav1.Condition, time.Duration, error) {
	log := ctrl.LoggerFrom(ctx)
	start := time.Now()
	st, dpErr := a.apply(ctx, want, delta, full)
	recordStats(a.opts.NodeName, st)
	if st.RoutesAdded+st.RoutesRemoved+st.RoutesReplaced+st.NodeIPsChanged+st.ProxyChanged+st.TunnelChanged > 0 || st.TableWritten {
		log.Info("Programmed datapath", "full", st.Full, "routes", st.Routes, "added", st.RoutesAdded,
			"removed", st.RoutesRemoved, "replaced", st.RoutesReplaced, "nodeIPsChanged", st.NodeIPsChanged, "rules", st.Rules,
			"proxyNeighbors", st.ProxyNeighbors, "proxyChanged", st.ProxyChanged,
			"vxlanPeers", st.TunnelPeers, "vxlanChanged", st.TunnelChanged)
	}
	// The CNI configuration is written even when a route failed: one unreachable peer
	// must not keep every pod off this node.
	cniErr := a.writeCNI(ctx, want.CNI)

	cond, err := programmed(self, want), error(nil)
	switch {
	case dpErr != nil:
		cond = notProgrammed(self, reasonFor(dpErr), fmt.Sprintf("Programming the datapath failed (%d routes, %d nftables rules in place): %v", st.Routes, st.Rules, dpErr))
		err = errors.Join(dpErr, cniErr)
	case cniErr != nil:
		cond = notProgrammed(self, reasonFor(cniErr), cniErr.Error())
		err = cniErr
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if full && dpErr == nil {
		a.lastFull = start
	}
	if err == nil {
		a.programmed = true
	}
	return cond, a.opts.ResyncPeriod - time.Since(a.lastFull), err
}

func hasLegacy(dp *desired.Datapath) bool {
	for _, f := range dp.Families {
		if len(f.LegacySources) > 0 {
			return true
		}
	}
	return false
}

// Ready is a readiness check that passes once the node's datapath has been programmed.
func (a *Agent) Ready(_ *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.programmed {
		return errors.New("the datapath has not been programmed yet")
	}
	return nil
}

// logWarnings logs the warnings that the previous reconcile did not have.
func (a *Agent) logWarnings(ctx context.Context, warnings []string) {
	a.mu.Lock()
	prev := a.lastWarnings
	a.lastWarnings = warnings
	a.mu.Unlock()
	for _, w := range warnings {
		if !slices.Contains(prev, w) {
			ctrl.LoggerFrom(ctx).Info("Skipping part of the desired datapath", "reason", w)
		}
	}
}

// reportSkipped emits a Warning event on the node's own NodeNetworkConfig for every peer
// that is skipped now and was not, or was for other reasons, at the previous reconcile
// (B7): a user watching events sees the bad object once, not on every reconcile. The
// condition message and overlaynet_agent_skipped_peers say the same continuously.
func (a *Agent) reportSkipped(self *v1alpha1.NodeNetworkConfig, skipped []desired.Skipped) {
	now := make(map[string]string, len(skipped))
	for _, s := range skipped {
		now[s.Node] = strings.Join(s.Problems, ", ")
	}
	a.mu.Lock()
	prev := a.lastSkipped
	a.lastSkipped = now
	a.mu.Unlock()
	if a.opts.Recorder == nil {
		return
	}
	for _, s := range skipped {
		if prev[s.Node] == now[s.Node] {
			continue
		}
		a.opts.Recorder.Eventf(self, nil, corev1.EventTypeWarning, ReasonPeersSkipped, "SkipPeer",
			"Skipped every route and pod-ingress entry of peer %s: its NodeNetworkConfig breaks the rules (B7): %s", s.Node, truncate(now[s.Node]))
	}
}
