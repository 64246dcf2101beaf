// Package monitoring checks the chart's Prometheus rules and Grafana dashboard against the
// metrics the binaries export. `promtool check rules` and `promtool test rules` (make
// test-monitoring) check the rules themselves.
package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	_ "github.com/overlaynet/overlaynet/internal/agent" // the agent's metrics, if it registers any
	ctrl "github.com/overlaynet/overlaynet/internal/controller"
	"github.com/overlaynet/overlaynet/internal/testenv"
)

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedMetrics returns the names of every series the manager and the agent export:
// the manager's own collectors (internal/controller.Collectors) and what controller-runtime
// registers in the registry both binaries serve, with the _bucket, _sum and _count series
// of histograms and summaries.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	histogram := func(name string) {
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			names[name+s] = true
		}
	}
	for _, c := range ctrl.Collectors {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			names[m[1]] = true
			switch c.(type) {
			case prometheus.Histogram, *prometheus.HistogramVec, prometheus.Summary, *prometheus.SummaryVec:
				histogram(m[1])
			}
		}
	}
	// controller-runtime's reconcile metrics are vectors, which export nothing until a
	// controller starts and initialises its series: start one, with nothing to watch.
	c, err := controller.NewUnmanaged("probe", controller.Options{Reconciler: reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
		return reconcile.Result{}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.Start(ctx)
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY {
			histogram(f.GetName())
		}
	}
	for _, want := range []string{"overlaynet_pool_blocks", "overlaynet_nodes", "controller_runtime_reconcile_errors_total"} {
		if !names[want] {
			t.Fatalf("%s is not among the exported metrics %v: the collection is broken", want, slices.Sorted(func(yield func(string) bool) {
				for n := range names {
					if !yield(n) {
						return
					}
				}
			}))
		}
	}
	return names
}

// grafanaVariables are the dashboard's Grafana variables and their stand-ins for parsing.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// unknownMetrics parses expr and returns the metric names it selects that are not in
// exported, or the parse error.
func unknownMetrics(expr string, exported map[string]bool) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVariables.Replace(expr))
	if err != nil {
		return nil, err
	}
	var unknown []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
		}
		if name == "" || !exported[name] {
			unknown = append(unknown, vs.String())
		}
		return nil
	})
	return unknown, nil
}

// query is one PromQL expression and where it comes from.
type query struct{ where, expr string }

func ruleQueries(t *testing.T) []query {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(), "charts", "overlaynet", "files", "prometheus-rules.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Record      string            `json:"record"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(data, &file); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var qs []query
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{fmt.Sprintf("rule %s/%s%s", g.Name, r.Alert, r.Record), r.Expr})
		}
	}
	return qs
}

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(), "charts", "overlaynet", "files", "grafana-dashboard.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var qs []query
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, query{"dashboard panel " + p.Title, tg.Expr})
		}
	}
	return qs
}

// TestAlertsAndDashboardUseOnlyExportedMetrics parses every alert expression and every
// dashboard query with the PromQL parser and fails, naming the query, on a metric the
// manager and the agent do not export.
func TestAlertsAndDashboardUseOnlyExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	rules, panels := ruleQueries(t), dashboardQueries(t)
	if len(rules) < 6 || len(panels) < 10 {
		t.Fatalf("found %d rule and %d dashboard queries: the files were not read", len(rules), len(panels))
	}
	for _, q := range append(rules, panels...) {
		unknown, err := unknownMetrics(q.expr, exported)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", q.where, q.expr, err)
			continue
		}
		if len(unknown) > 0 {
			t.Errorf("%s selects metrics no binary exports: %v", q.where, unknown)
		}
	}
}

// TestUnknownMetricsAreCaught proves the check above can fail.
func TestUnknownMetricsAreCaught(t *testing.T) {
	exported := map[string]bool{"overlaynet_pool_blocks": true}
	got, err := unknownMetrics(`sum(rate(overlaynet_pool_block[$__rate_interval])) / overlaynet_pool_blocks`, exported)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "overlaynet_pool_block") || strings.HasPrefix(got[0], "overlaynet_pool_blocks") {
		t.Errorf("unknownMetrics = %v, want the misspelt overlaynet_pool_block", got)
	}
	if _, err := unknownMetrics(`sum(rate(x[5m])`, exported); err == nil {
		t.Error("an unbalanced expression parses")
	}
}
