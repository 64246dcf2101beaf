package agent_test

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// stateDatapath keeps the routes and node IPs that Apply and ApplyDelta leave, as a
// kernel would.
type stateDatapath struct {
	mu            sync.Mutex
	routes        map[netip.Prefix]desired.Route
	nodeIPs       map[netip.Addr]bool
	whole, deltas int
}

func (s *stateDatapath) Apply(_ context.Context, dp *desired.Datapath, _ bool) (datapath.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.whole++
	s.routes, s.nodeIPs = map[netip.Prefix]desired.Route{}, map[netip.Addr]bool{}
	for _, r := range dp.Routes {
		s.routes[r.Dst] = r
	}
	for _, f := range dp.Families {
		for _, a := range f.NodeIPs {
			s.nodeIPs[a] = true
		}
	}
	return datapath.Stats{}, nil
}

func (s *stateDatapath) ApplyDelta(_ context.Context, d *desired.Delta) (datapath.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.routes == nil {
		return datapath.Stats{}, datapath.ErrFullApplyNeeded
	}
	s.deltas++
	for _, r := range d.RemovedRoutes {
		delete(s.routes, r.Dst)
	}
	for _, r := range d.Routes {
		s.routes[r.Dst] = r
	}
	for _, a := range d.RemovedNodeIPs {
		delete(s.nodeIPs, a)
	}
	for _, a := range d.AddedNodeIPs {
		s.nodeIPs[a] = true
	}
	return datapath.Stats{}, nil
}

// state returns the routes and node IPs in place, sorted.
func (s *stateDatapath) state() ([]desired.Route, []netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := slices.SortedFunc(func(yield func(desired.Route) bool) {
		for _, r := range s.routes {
			if !yield(r) {
				return
			}
		}
	}, func(a, b desired.Route) int { return desired.ComparePrefix(a.Dst, b.Dst) })
	var ips []netip.Addr
	for a := range s.nodeIPs {
		ips = append(ips, a)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return rs, ips
}

// truth is what desired.Compute decides from every object the API server holds now.
func truth(t *testing.T, self string) ([]desired.Route, []netip.Addr) {
	t.Helper()
	ctx := context.Background()
	var all v1alpha1.NodeNetworkConfigList
	if err := env.Client.List(ctx, &all); err != nil {
		t.Fatal(err)
	}
	me := &v1alpha1.NodeNetworkConfig{}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: self}, me); err != nil {
		t.Fatal(err)
	}
	st := clusterStatus()
	cluster, err := desired.ClusterFromStatus(&st)
	if err != nil {
		t.Fatal(err)
	}
	res, err := desired.Compute(me, all.Items, cluster, nil, desired.CNIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Datapath.Routes, res.Datapath.Families[0].NodeIPs
}

// TestWatchedAgentProgramsPeerChangesAsDeltas runs an agent as cmd/agent does, its peer
// index fed by the watch's events, through joins, a peer moving its block, a twin that
// claims another peer's node IP (the older keeps it, B7) and leaves, polling the backend
// until it settles: the routes and node
// IPs in place always end as the full computation over every object says, and the
// changes reach the backend as deltas (B8).
func TestWatchedAgentProgramsPeerChangesAsDeltas(t *testing.T) {
	createNNC(t, "w-1", "10.244.31.0/24", "10.224.3.1", 250)
	createNNC(t, "w-2", "10.244.32.0/24", "10.224.3.2", 250)
	mgr, err := ctrl.NewManager(env.Config, agent.ManagerOptions("w-1", env.Scheme, "0", "0"))
	if err != nil {
		t.Fatal(err)
	}
	dp := &stateDatapath{}
	if _, err := agent.SetupWithManager(mgr, agent.Options{NodeName: "w-1", Datapath: dp, CNIConfDir: t.TempDir(),
		CNI: desired.CNIOptions{IPAMDataDir: t.TempDir()}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	settled := func(what string) {
		t.Helper()
		var diff string
		for range 200 {
			wantRoutes, wantIPs := truth(t, "w-1")
			gotRoutes, gotIPs := dp.state()
			opts := []cmp.Option{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}), cmpopts.EquateEmpty()}
			diff = cmp.Diff(wantRoutes, gotRoutes, opts...) + cmp.Diff(wantIPs, gotIPs, opts...)
			if diff == "" {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: the backend's state differs from the full computation (-want +got):\n%s", what, diff)
	}
	settled("start")

	createNNC(t, "w-3", "10.244.33.0/24", "10.224.3.3", 250)
	settled("a join")
	// Older by the clock or, within the same second, by name: w-3 keeps the address.
	twin := createNNC(t, "w-4", "10.244.34.0/24", "10.224.3.3", 250)
	settled("a twin of w-3's node IP")
	w2 := get(t, "w-2")
	w2.Spec.PodCIDRs = []string{"10.244.42.0/24"}
	if err := env.Client.Update(context.Background(), w2); err != nil {
		t.Fatal(err)
	}
	settled("a peer's block moves")
	if err := env.Client.Delete(context.Background(), get(t, "w-3")); err != nil {
		t.Fatal(err)
	}
	settled("w-3 leaves, its twin takes the address")
	if routes, _ := dp.state(); !slices.ContainsFunc(routes, func(r desired.Route) bool { return r.Node == twin.Name }) {
		t.Errorf("after w-3 left, w-4 has no route: %v", routes)
	}
	dp.mu.Lock()
	whole, deltas := dp.whole, dp.deltas
	dp.mu.Unlock()
	if whole != 1 || deltas < 4 {
		t.Errorf("the backend got %d whole applies and %d deltas, want 1 (the start) and at least one delta per change", whole, deltas)
	}
}
