package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "starting the local control plane: %v\n", err)
		os.Exit(1)
	}
	if err := createCluster(); err != nil {
		fmt.Fprintf(os.Stderr, "creating the OverlayCluster: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the local control plane: %v\n", err)
	}
	os.Exit(code)
}

// clusterStatus is what the manager publishes for the tests' cluster: IPv4 /24 blocks of
// 10.244.0.0/16 on the node network 10.224.0.0/16.
func clusterStatus() v1alpha1.OverlayClusterStatus {
	return v1alpha1.OverlayClusterStatus{
		Mode: v1alpha1.ModeOverlay,
		Pools: []v1alpha1.PoolStatus{{
			Family: v1alpha1.IPv4, CIDRs: []string{"10.244.0.0/16"}, BlockPrefixLength: 24,
			TotalBlocks: "256", FreeBlocks: "256",
		}},
		NodeNetworkCIDRs:   []string{"10.224.0.0/16"},
		NonMasqueradeCIDRs: []string{"10.244.0.0/16"},
	}
}

func createCluster() error {
	ctx := context.Background()
	ovc := &v1alpha1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterName},
		Spec:       v1alpha1.OverlayClusterSpec{VNetCIDRs: []string{"10.224.0.0/16"}},
	}
	if err := env.Client.Create(ctx, ovc); err != nil {
		return err
	}
	ovc.Status = clusterStatus()
	return env.Client.Status().Update(ctx, ovc)
}

// setClusterStatus writes the OverlayCluster status as the manager would, and restores
// the tests' status when the test ends.
func setClusterStatus(t *testing.T, st v1alpha1.OverlayClusterStatus) {
	t.Helper()
	write := func(st v1alpha1.OverlayClusterStatus) error {
		ovc := &v1alpha1.OverlayCluster{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Name: v1alpha1.ClusterName}, ovc); err != nil {
			return err
		}
		ovc.Status = st
		return env.Client.Status().Update(context.Background(), ovc)
	}
	if err := write(st); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := write(clusterStatus()); err != nil {
			t.Errorf("restoring the OverlayCluster status: %v", err)
		}
	})
}

// fakeDatapath records what the agent asks for.
type fakeDatapath struct {
	mu    sync.Mutex
	calls []fakeCall
	last  desired.Datapath
	err   error
}

type fakeCall struct {
	Routes int
	Full   bool
}

func (f *fakeDatapath) Apply(_ context.Context, dp *desired.Datapath, full bool) (datapath.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{Routes: len(dp.Routes), Full: full})
	f.last = *dp
	return datapath.Stats{Routes: len(dp.Routes), Rules: 10, ProxyNeighbors: len(dp.Proxy.Addrs), Full: full}, f.err
}

func (f *fakeDatapath) Last() desired.Datapath {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakeDatapath) Calls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

// createNNC creates a NodeNetworkConfig as the controller does: the allocation in the
// create's spec, and the Allocated condition of a node that waited. An empty podCIDR means
// not allocated yet.
func createNNC(t *testing.T, name, podCIDR, nodeIP string, maxPods int32) *v1alpha1.NodeNetworkConfig {
	t.Helper()
	ctx := context.Background()
	nnc := &v1alpha1.NodeNetworkConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.NodeNetworkConfigSpec{
			NodeUID: "uid-" + name,
			Mode:    v1alpha1.ModeOverlay,
			NodeIPs: []string{nodeIP},
			MaxPods: maxPods,
		},
	}
	if podCIDR != "" {
		nnc.Spec.PodCIDRs = []string{podCIDR}
	}
	if err := env.Client.Create(ctx, nnc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), nnc) })
	// The condition of a node that waited (True once allocated), so that tests can check
	// that the agent leaves it alone.
	allocated := metav1.Condition{Type: v1alpha1.NodeAllocated, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonAllocated, Message: "holds " + podCIDR}
	if podCIDR == "" {
		allocated.Status, allocated.Reason, allocated.Message = metav1.ConditionFalse, v1alpha1.ReasonPoolExhausted, "waits"
	}
	meta.SetStatusCondition(&nnc.Status.Conditions, allocated)
	if err := env.Client.Status().Update(ctx, nnc); err != nil {
		t.Fatal(err)
	}
	return nnc
}

func get(t *testing.T, name string) *v1alpha1.NodeNetworkConfig {
	t.Helper()
	nnc := &v1alpha1.NodeNetworkConfig{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Name: name}, nnc); err != nil {
		t.Fatal(err)
	}
	return nnc
}

// conditionSummary is what a user reads from a condition.
type conditionSummary struct {
	Status  metav1.ConditionStatus
	Reason  string
	Message string
}

func condition(t *testing.T, name, typ string) *conditionSummary {
	t.Helper()
	c := meta.FindStatusCondition(get(t, name).Status.Conditions, typ)
	if c == nil {
		return nil
	}
	return &conditionSummary{Status: c.Status, Reason: c.Reason, Message: c.Message}
}

type fixture struct {
	agent   *agent.Agent
	dp      *fakeDatapath
	confDir string
	ipamDir string
}

func newAgent(t *testing.T, node string, mutate func(*agent.Options, *fakeDatapath)) *fixture {
	t.Helper()
	f := &fixture{dp: &fakeDatapath{}, confDir: t.TempDir(), ipamDir: t.TempDir()}
	opts := agent.Options{
		NodeName:   node,
		Datapath:   f.dp,
		CNIConfDir: f.confDir,
		CNI:        desired.CNIOptions{IPAMDataDir: f.ipamDir},
	}
	if mutate != nil {
		mutate(&opts, f.dp)
	}
	a, err := agent.New(env.Client, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.agent = a
	return f
}

func (f *fixture) reconcile(t *testing.T) (ctrl.Result, error) {
	t.Helper()
	return f.agent.Reconcile(context.Background(), ctrl.Request{})
}

func TestReconcileProgramsWritesCNIAndReportsOnlyItsCondition(t *testing.T) {
	createNNC(t, "a-1", "10.244.1.0/24", "10.224.0.4", 10)
	createNNC(t, "a-2", "10.244.2.0/24", "10.224.0.5", 250)
	f := newAgent(t, "a-1", nil)

	if _, err := f.reconcile(t); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if diff := cmp.Diff([]fakeCall{{Routes: 1, Full: true}}, f.dp.Calls()); diff != "" {
		t.Errorf("datapath calls (-want +got):\n%s", diff)
	}
	want := &conditionSummary{
		Status: metav1.ConditionTrue, Reason: agent.ReasonProgrammed,
		Message: "Routes to peer blocks (every peer routed directly: the uplink is unknown), SNAT and the pod-ingress guard are programmed; the CNI configuration hands out up to 10 pod addresses per family from 10.244.1.0/24",
	}
	if diff := cmp.Diff(want, condition(t, "a-1", v1alpha1.NodeProgrammed)); diff != "" {
		t.Errorf("Programmed (-want +got):\n%s", diff)
	}
	if c := condition(t, "a-1", v1alpha1.NodeAllocated); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("the controller's Allocated condition was clobbered: %+v", c)
	}
	wantConf, _, _ := desired.BuildCNI(mustPrefixes("10.244.1.0/24"), 10, desired.CNIOptions{IPAMDataDir: f.ipamDir})
	got, err := os.ReadFile(filepath.Join(f.confDir, agent.DefaultCNIConfName))
	if err != nil {
		t.Fatalf("reading the CNI configuration: %v", err)
	}
	if diff := cmp.Diff(string(wantConf.Conflist), string(got)); diff != "" {
		t.Errorf("CNI configuration (-want +got):\n%s", diff)
	}
	if err := f.agent.Ready(nil); err != nil {
		t.Errorf("Ready after programming: %v", err)
	}

	if got := gauge(t, "overlaynet_agent_routes", "a-1"); got != 1 {
		t.Errorf("overlaynet_agent_routes{node=a-1} = %v, want 1", got)
	}

	t.Run("B8 a new peer is applied incrementally, counted in the metrics, and costs no status write", func(t *testing.T) {
		before := get(t, "a-1").ResourceVersion
		writes := counter(t, "overlaynet_agent_status_writes_total", "a-1")
		createNNC(t, "a-3", "10.244.3.0/24", "10.224.0.6", 250)
		if _, err := f.reconcile(t); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		if diff := cmp.Diff(fakeCall{Routes: 2, Full: false}, f.dp.Calls()[1]); diff != "" {
			t.Errorf("second datapath call (-want +got):\n%s", diff)
		}
		if got := gauge(t, "overlaynet_agent_routes", "a-1"); got != 2 {
			t.Errorf("overlaynet_agent_routes{node=a-1} = %v, want 2", got)
		}
		if after := get(t, "a-1").ResourceVersion; after != before {
			t.Errorf("B8 the peer's join rewrote a-1's NodeNetworkConfig (resourceVersion %s -> %s)", before, after)
		}
		if got := counter(t, "overlaynet_agent_status_writes_total", "a-1"); got != writes {
			t.Errorf("B8 status writes by a-1's agent went from %v to %v on a peer's join", writes, got)
		}
	})
}

func TestReconcileReportsWhyItIsNotProgrammed(t *testing.T) {
	tests := []struct {
		name        string
		podCIDR     string
		mutate      func(*agent.Options, *fakeDatapath)
		wantErr     bool
		wantReason  string
		wantMessage string
		wantCNI     bool
	}{
		{
			name:        "a node without pod CIDRs waits and gets no CNI configuration, so no pod starts",
			podCIDR:     "",
			wantReason:  agent.ReasonWaitingForAllocation,
			wantMessage: "Waiting for the controller to allocate the node's pod CIDRs",
		},
		{
			name:    "a failed route names the part that failed",
			podCIDR: "10.244.1.0/24",
			mutate: func(_ *agent.Options, dp *fakeDatapath) {
				dp.err = &datapath.Error{Part: datapath.PartRoutes, Err: errors.New("adding route to 10.244.2.0/24: network is unreachable")}
			},
			wantErr:     true,
			wantReason:  agent.ReasonRoutesFailed,
			wantMessage: "Programming the datapath failed (0 routes, 10 nftables rules in place): programming routes: adding route to 10.244.2.0/24: network is unreachable",
			wantCNI:     true,
		},
		{
			name:    "missing CNI plugins keep the configuration out",
			podCIDR: "10.244.1.0/24",
			mutate: func(o *agent.Options, _ *fakeDatapath) {
				o.CNIBinDir = "/nonexistent/cni/bin"
			},
			wantErr:     true,
			wantReason:  agent.ReasonCNIPluginsMissing,
			wantMessage: "CNI plugins [ptp host-local portmap loopback] are not installed (or not executable) in /nonexistent/cni/bin; the runtime calls [ptp host-local portmap loopback] for every pod: install the reference plugins there",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("r-%d", i)
			createNNC(t, name, tt.podCIDR, "10.224.0.4", 10)
			f := newAgent(t, name, tt.mutate)
			_, err := f.reconcile(t)
			if (err != nil) != tt.wantErr {
				t.Errorf("Reconcile error = %v, want error: %v", err, tt.wantErr)
			}
			want := &conditionSummary{Status: metav1.ConditionFalse, Reason: tt.wantReason, Message: tt.wantMessage}
			if diff := cmp.Diff(want, condition(t, name, v1alpha1.NodeProgrammed)); diff != "" {
				t.Errorf("Programmed (-want +got):\n%s", diff)
			}
			_, statErr := os.Stat(filepath.Join(f.confDir, agent.DefaultCNIConfName))
			if gotCNI := statErr == nil; gotCNI != tt.wantCNI {
				t.Errorf("CNI configuration written: %v, want %v", gotCNI, tt.wantCNI)
			}
			if err := f.agent.Ready(nil); err == nil {
				t.Error("Ready passes although the datapath was never programmed")
			}
		})
	}
}

func TestReconcileWithoutItsNodeNetworkConfigWaits(t *testing.T) {
	f := newAgent(t, "absent", nil)
	if res, err := f.reconcile(t); err != nil || res.RequeueAfter != 0 {
		t.Errorf("Reconcile = %+v, %v; want to wait for the watch", res, err)
	}
	if calls := f.dp.Calls(); len(calls) != 0 {
		t.Errorf("datapath programmed without a NodeNetworkConfig: %v", calls)
	}
}

// TestReconcileNodeSubnet programs a NodeSubnet node (R40–R42): the CNI configuration hands
// out the reservation, the node answers for it on its uplink, and the message says so.
func TestReconcileNodeSubnet(t *testing.T) {
	nnc := createNNC(t, "ns-1", "", "10.224.0.4", 10)
	nnc.Spec.Mode = v1alpha1.ModeNodeSubnet
	nnc.Spec.ReservedIPs = []string{"10.224.0.8/30", "10.224.0.12-10.224.0.17"}
	nnc.Spec.NodeSubnet = "10.224.0.0/24"
	if err := env.Client.Update(context.Background(), nnc); err != nil {
		t.Fatal(err)
	}
	f := newAgent(t, "ns-1", nil)
	if _, err := f.reconcile(t); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	want := &conditionSummary{
		Status: metav1.ConditionTrue, Reason: agent.ReasonProgrammed,
		Message: "Routes to peer blocks (every peer routed directly: the uplink is unknown), SNAT and the pod-ingress guard are programmed; the CNI configuration hands out up to 10 pod addresses per family from the 10 reserved addresses of node subnet 10.224.0.0/24",
	}
	if diff := cmp.Diff(want, condition(t, "ns-1", v1alpha1.NodeProgrammed)); diff != "" {
		t.Errorf("Programmed (-want +got):\n%s", diff)
	}
	got, err := os.ReadFile(filepath.Join(f.confDir, agent.DefaultCNIConfName))
	if err != nil {
		t.Fatalf("reading the CNI configuration: %v", err)
	}
	for _, s := range []string{`"rangeStart": "10.224.0.8"`, `"rangeEnd": "10.224.0.17"`, `"gateway": "10.224.0.4"`} {
		if !strings.Contains(string(got), s) {
			t.Errorf("R40 the CNI configuration lacks %s:\n%s", s, got)
		}
	}
	if up := f.dp.Last().Proxy.Uplink; up != netip.MustParseAddr("10.224.0.4") {
		t.Errorf("proxy uplink = %v, want the node IP", up)
	}
}

// TestReconcileKeepsLegacyPods reads host-local's leases: a pod that kept a node-subnet
// address across a migration is masqueraded and answered for, and the agent looks again
// within LegacyRecheckPeriod.
func TestReconcileKeepsLegacyPods(t *testing.T) {
	createNNC(t, "l-1", "10.244.1.0/24", "10.224.0.4", 10)
	ipam := t.TempDir()
	leases := filepath.Join(ipam, desired.DefaultNetworkName)
	if err := os.MkdirAll(leases, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"10.244.1.2", "10.224.0.9", "lock", "last_reserved_ip.0"} {
		if err := os.WriteFile(filepath.Join(leases, name), []byte("container-id\neth0"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := newAgent(t, "l-1", func(o *agent.Options, _ *fakeDatapath) {
		o.CNI.IPAMDataDir = ipam
		o.ResyncPeriod = time.Hour
	})
	res, err := f.reconcile(t)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	dp := f.dp.Last()
	if diff := cmp.Diff(mustPrefixes("10.224.0.9/32"), dp.Families[0].LegacySources, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("legacy sources (-want +got):\n%s", diff)
	}
	if len(dp.Proxy.Addrs) != 1 || dp.Proxy.Addrs[0] != netip.MustParseAddr("10.224.0.9") {
		t.Errorf("proxy addresses = %v, want the legacy pod's", dp.Proxy.Addrs)
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > agent.LegacyRecheckPeriod {
		t.Errorf("RequeueAfter = %v, want at most %v while legacy pods remain", res.RequeueAfter, agent.LegacyRecheckPeriod)
	}

	// The pod goes: the next reconcile forgets it and waits for the ordinary resync.
	if err := os.Remove(filepath.Join(leases, "10.224.0.9")); err != nil {
		t.Fatal(err)
	}
	if res, err = f.reconcile(t); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if dp := f.dp.Last(); len(dp.Families[0].LegacySources) != 0 || len(dp.Proxy.Addrs) != 0 {
		t.Errorf("a gone legacy pod is still programmed: %+v", dp)
	}
	if res.RequeueAfter <= agent.LegacyRecheckPeriod {
		t.Errorf("RequeueAfter = %v, want the resync period once no legacy pod remains", res.RequeueAfter)
	}
}

func TestTrimForCacheKeepsOnlyWhatTheAgentReads(t *testing.T) {
	cond := []metav1.Condition{{Type: v1alpha1.NodeAllocated}}
	mk := func(name string) *v1alpha1.NodeNetworkConfig {
		return &v1alpha1.NodeNetworkConfig{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"a": "b"}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
			Spec:       v1alpha1.NodeNetworkConfigSpec{PodCIDRs: []string{"10.244.1.0/24"}, ReservedIPs: []string{"10.224.0.8/29"}},
			Status:     v1alpha1.NodeNetworkConfigStatus{Conditions: cond},
		}
	}
	trim := agent.TrimForCache("self")
	self, _ := trim(mk("self"))
	peer, _ := trim(mk("peer"))
	want := []*v1alpha1.NodeNetworkConfig{
		{ObjectMeta: metav1.ObjectMeta{Name: "self", Annotations: map[string]string{"a": "b"}}, Spec: v1alpha1.NodeNetworkConfigSpec{PodCIDRs: []string{"10.244.1.0/24"}, ReservedIPs: []string{"10.224.0.8/29"}}, Status: v1alpha1.NodeNetworkConfigStatus{Conditions: cond}},
		{ObjectMeta: metav1.ObjectMeta{Name: "peer"}, Spec: v1alpha1.NodeNetworkConfigSpec{PodCIDRs: []string{"10.244.1.0/24"}}},
	}
	if diff := cmp.Diff(want, []*v1alpha1.NodeNetworkConfig{self.(*v1alpha1.NodeNetworkConfig), peer.(*v1alpha1.NodeNetworkConfig)}); diff != "" {
		t.Errorf("trimmed objects (-want +got):\n%s", diff)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	for i, tt := range []struct {
		data        string
		wantChanged bool
	}{{"one", true}, {"one", false}, {"two", true}} {
		changed, err := agent.WriteFileAtomic(dir, "10-x.conflist", []byte(tt.data))
		if err != nil || changed != tt.wantChanged {
			t.Errorf("write %d: changed %v, err %v; want changed %v", i, changed, err, tt.wantChanged)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"10-x.conflist"}, names); diff != "" {
		t.Errorf("directory holds (-want +got):\n%s", diff)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "10-x.conflist")); string(got) != "two" {
		t.Errorf("content = %q, want %q", got, "two")
	}
}

func mustPrefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, x := range s {
		out[i] = netip.MustParsePrefix(x)
	}
	return out
}

// deltaDatapath is a fakeDatapath that also takes deltas (datapath.DeltaApplier).
type deltaDatapath struct {
	fakeDatapath
	deltas   []desired.Delta
	deltaErr error
}

func (f *deltaDatapath) ApplyDelta(_ context.Context, d *desired.Delta) (datapath.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deltas = append(f.deltas, *d)
	return datapath.Stats{}, f.deltaErr
}

func (f *deltaDatapath) Deltas() []desired.Delta {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]desired.Delta(nil), f.deltas...)
}

// TestReconcileHandsTheBackendOnlyThePeerThatChanged proves that a peer joining or
// leaving reaches a backend that takes deltas as that one route and node IP, not as the
// whole datapath (B8), and that after a failed delta the next reconcile applies the whole
// datapath again.
func TestReconcileHandsTheBackendOnlyThePeerThatChanged(t *testing.T) {
	createNNC(t, "d-1", "10.244.1.0/24", "10.224.0.4", 250)
	createNNC(t, "d-2", "10.244.2.0/24", "10.224.0.5", 250)
	dp := &deltaDatapath{}
	a, err := agent.New(env.Client, agent.Options{NodeName: "d-1", Datapath: dp, CNIConfDir: t.TempDir(), CNI: desired.CNIOptions{IPAMDataDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	reconcile := func() {
		t.Helper()
		if _, err := a.Reconcile(context.Background(), ctrl.Request{}); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
	}
	reconcile()
	if diff := cmp.Diff([]fakeCall{{Routes: 1, Full: true}}, dp.Calls()); diff != "" {
		t.Errorf("first reconcile: datapath calls (-want +got):\n%s", diff)
	}

	d3 := createNNC(t, "d-3", "10.244.3.0/24", "10.224.0.6", 250)
	reconcile()
	want := []desired.Delta{{
		Routes:       []desired.Route{{Dst: netip.MustParsePrefix("10.244.3.0/24"), Via: netip.MustParseAddr("10.224.0.6"), Node: "d-3"}},
		AddedNodeIPs: []netip.Addr{netip.MustParseAddr("10.224.0.6")},
	}}
	if diff := cmp.Diff(want, dp.Deltas(), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("a join: deltas (-want +got):\n%s", diff)
	}
	if n := len(dp.Calls()); n != 1 {
		t.Errorf("a join applied the whole datapath (%d calls), want the delta alone", n)
	}

	dp.deltaErr = errors.New("netlink is down")
	if err := env.Client.Delete(context.Background(), d3); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reconcile(context.Background(), ctrl.Request{}); err == nil {
		t.Fatal("Reconcile succeeded although the backend failed")
	}
	deltas := dp.Deltas()
	if last := deltas[len(deltas)-1]; len(last.RemovedRoutes) != 1 || last.RemovedRoutes[0].Node != "d-3" || len(last.RemovedNodeIPs) != 1 {
		t.Errorf("a leave: delta %+v, want d-3's route and node IP removed", last)
	}
	dp.deltaErr = nil
	reconcile()
	if diff := cmp.Diff([]fakeCall{{Routes: 1, Full: true}, {Routes: 1, Full: false}}, dp.Calls()); diff != "" {
		t.Errorf("after a failed delta: datapath calls (-want +got):\n%s", diff)
	}
}
