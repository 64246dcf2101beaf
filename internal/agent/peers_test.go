package agent_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
)

// TestReconcileSkipsAndReportsPeersThatBreakTheRules proves B7 through the agent: a peer
// whose status breaks the rules gets nothing programmed, the good peer keeps its route,
// and the Programmed condition, an event, a log line and a metric name the bad entries.
func TestReconcileSkipsAndReportsPeersThatBreakTheRules(t *testing.T) {
	createNNC(t, "p-1", "10.244.1.0/24", "10.224.0.4", 10)
	createNNC(t, "p-2", "10.244.2.0/24", "10.224.0.5", 10)
	createNNC(t, "p-evil", "10.99.0.0/24", "203.0.113.9", 10)
	recorder := events.NewFakeRecorder(10)
	f := newAgent(t, "p-1", func(o *agent.Options, _ *fakeDatapath) { o.Recorder = recorder })
	if _, err := f.reconcile(t); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	var routes []string
	for _, r := range f.dp.Last().Routes {
		routes = append(routes, r.Dst.String()+" via "+r.Via.String())
	}
	if diff := cmp.Diff([]string{"10.244.2.0/24 via 10.224.0.5"}, routes); diff != "" {
		t.Errorf("B7 routes (-want +got):\n%s", diff)
	}
	for _, r := range f.dp.Last().Families {
		for _, a := range r.NodeIPs {
			if a.String() == "203.0.113.9" {
				t.Errorf("B7 R16 the bad peer's node IP may reach pods")
			}
		}
	}
	c := condition(t, "p-1", v1alpha1.NodeProgrammed)
	if c.Status != metav1.ConditionTrue || c.Reason != agent.ReasonPeersSkipped {
		t.Errorf("Programmed = %+v, want True/%s", c, agent.ReasonPeersSkipped)
	}
	for _, s := range []string{
		`p-evil: block "10.99.0.0/24" lies outside the cluster's pod CIDRs [10.244.0.0/16]`,
		`node IP "203.0.113.9" lies outside the node network [10.224.0.0/16]`,
	} {
		if !strings.Contains(c.Message, s) {
			t.Errorf("Programmed message %q does not name %q", c.Message, s)
		}
	}
	if got := gauge(t, "overlaynet_agent_skipped_peer_entries", "p-1"); got != 2 {
		t.Errorf("overlaynet_agent_skipped_peer_entries{node=p-1} = %v, want 2", got)
	}
	// One Warning event names the bad peer; a second reconcile with the same problems
	// emits none.
	select {
	case e := <-recorder.Events:
		if !strings.HasPrefix(e, "Warning "+agent.ReasonPeersSkipped+" ") || !strings.Contains(e, "peer p-evil") || !strings.Contains(e, "203.0.113.9") {
			t.Errorf("B7 event %q does not name the skipped peer p-evil and its problems", e)
		}
	default:
		t.Errorf("B7 no event for the skipped peer p-evil")
	}
	if _, err := f.reconcile(t); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	select {
	case e := <-recorder.Events:
		t.Errorf("B7 a reconcile with the same skipped peers emitted another event: %q", e)
	default:
	}
}

// TestReconcileWaitsForTheClusterStatus covers the agent before the manager published the
// cluster-wide facts, and with a tampered status: it programs nothing and says why (B7).
func TestReconcileWaitsForTheClusterStatus(t *testing.T) {
	createNNC(t, "w-1", "10.244.1.0/24", "10.224.0.4", 10)
	for _, tt := range []struct {
		name       string
		status     v1alpha1.OverlayClusterStatus
		wantReason string
		wantMsg    string
	}{
		{
			name:       "B7 no status yet: wait",
			wantReason: agent.ReasonWaitingForCluster,
			wantMsg:    "Waiting for the manager to publish",
		},
		{
			name: "R15 B7 a status that turns SNAT off is refused",
			status: func() v1alpha1.OverlayClusterStatus {
				st := clusterStatus()
				st.NonMasqueradeCIDRs = []string{"0.0.0.0/1", "128.0.0.0/1"}
				return st
			}(),
			wantReason: agent.ReasonInvalidClusterStatus,
			wantMsg:    "cover every IPv4 destination",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setClusterStatus(t, tt.status)
			f := newAgent(t, "w-1", nil)
			if _, err := f.reconcile(t); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if calls := f.dp.Calls(); len(calls) != 0 {
				t.Errorf("B7 the datapath was programmed without the cluster's facts: %v", calls)
			}
			c := condition(t, "w-1", v1alpha1.NodeProgrammed)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != tt.wantReason || !strings.Contains(c.Message, tt.wantMsg) {
				t.Errorf("Programmed = %+v, want False/%s containing %q", c, tt.wantReason, tt.wantMsg)
			}
		})
	}
}

// gauge reads a gauge of the agent's metrics for one node.
func gauge(t *testing.T, name, node string) float64 {
	t.Helper()
	return metric(t, name, node, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() })
}

// counter reads a counter of the agent's metrics for one node; 0 when it has none yet.
func counter(t *testing.T, name, node string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if mf.GetName() == name && l.GetName() == "node" && l.GetValue() == node {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func metric(t *testing.T, name, node string, value func(*dto.Metric) float64) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "node" && l.GetValue() == node {
					return value(m)
				}
			}
		}
	}
	t.Fatalf("no %s{node=%q}", name, node)
	return 0
}
