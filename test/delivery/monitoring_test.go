package delivery

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// monitoringKinds are the objects the chart's monitoring values add.
var monitoringKinds = map[string]bool{"ServiceMonitor": true, "PrometheusRule": true}

func monitoringObjects(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, u := range objs {
		if monitoringKinds[u.GetKind()] || (u.GetKind() == "ConfigMap" && u.GetName() == "overlaynet-dashboard") {
			out[u.GetKind()] = u
		}
	}
	return out
}

func TestMonitoringIsOffByDefault(t *testing.T) {
	r, err := renderHelm(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := monitoringObjects(r.Objects); len(got) != 0 {
		t.Errorf("the default values render monitoring objects: %v", got)
	}
}

// TestMonitoringRendersTheChartFiles checks that the ServiceMonitor selects the manager's
// metrics Service by its labels and port, and that the PrometheusRule and the dashboard
// ConfigMap carry exactly the files promtool and the metric-name test check.
func TestMonitoringRendersTheChartFiles(t *testing.T) {
	r, err := renderHelm(map[string]any{"monitoring": map[string]any{
		"serviceMonitor":   map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
		"prometheusRule":   map[string]any{"enabled": true},
		"grafanaDashboard": map[string]any{"enabled": true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := monitoringObjects(r.Objects)
	if len(got) != 3 {
		t.Fatalf("want a ServiceMonitor, a PrometheusRule and the dashboard ConfigMap, got %v", got)
	}

	sm := got["ServiceMonitor"]
	if sm.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("the ServiceMonitor lacks the extra label: %v", sm.GetLabels())
	}
	var svc *unstructured.Unstructured
	for _, u := range r.Objects {
		if u.GetKind() == "Service" && u.GetName() == "overlaynet-manager-metrics" {
			svc = u
		}
	}
	if svc == nil {
		t.Fatal("no metrics Service rendered")
	}
	selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range selector {
		if svc.GetLabels()[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, the Service is labelled %v", k, v, svc.GetLabels())
		}
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	if len(endpoints) != 1 || len(ports) != 1 || endpoints[0].(map[string]any)["port"] != ports[0].(map[string]any)["name"] {
		t.Errorf("the ServiceMonitor's endpoint %v does not name the Service's port %v", endpoints, ports)
	}

	rulesFile, err := os.ReadFile(filepath.Join(chartDir(), "files", "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(rulesFile, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want["groups"], got["PrometheusRule"].Object["spec"].(map[string]any)["groups"]); diff != "" {
		t.Errorf("PrometheusRule groups differ from files/prometheus-rules.yaml (-file +rendered):\n%s", diff)
	}
	if !strings.Contains(string(rulesFile), "{{ $labels.family }}") {
		t.Error("the rules file lost its alert templates")
	}

	dashFile, err := os.ReadFile(filepath.Join(chartDir(), "files", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	data, _, _ := unstructured.NestedString(got["ConfigMap"].Object, "data", "overlaynet.json")
	var wantDash, gotDash any
	if err := json.Unmarshal(dashFile, &wantDash); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(data), &gotDash); err != nil {
		t.Fatalf("the dashboard ConfigMap holds no JSON: %v", err)
	}
	if diff := cmp.Diff(wantDash, gotDash); diff != "" {
		t.Errorf("the dashboard ConfigMap differs from files/grafana-dashboard.json:\n%s", diff)
	}
	if got["ConfigMap"].GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("the dashboard ConfigMap lacks Grafana's sidecar label: %v", got["ConfigMap"].GetLabels())
	}
}

func TestMonitoringValuesAreStrict(t *testing.T) {
	_, err := renderHelm(map[string]any{"monitoring": map[string]any{"serviceMonitor": map[string]any{"enable": true}}})
	if err == nil || !strings.Contains(err.Error(), "enable") {
		t.Errorf("a misspelt monitoring key renders: %v", err)
	}
}
