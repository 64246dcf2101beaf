package chartgen

// monitoringSchema is the schema of the values' monitoring block (ServiceMonitor,
// PrometheusRule, Grafana dashboard; templates/monitoring.yaml). It is strict, so that a
// misspelt key fails `helm install` instead of leaving monitoring silently off.
func monitoringSchema() map[string]any {
	labels := map[string]any{
		"type":                 "object",
		"description":          "Extra labels of the object, e.g. the ones your Prometheus or Grafana selects by.",
		"additionalProperties": map[string]any{"type": "string"},
	}
	enabled := func(what string) map[string]any {
		return map[string]any{"type": "boolean", "description": "Whether the chart installs " + what + "."}
	}
	object := func(description string, props map[string]any) map[string]any {
		return map[string]any{"type": "object", "description": description, "additionalProperties": false, "properties": props}
	}
	return object("Prometheus Operator and Grafana integration, all off by default.", map[string]any{
		"serviceMonitor": object("A ServiceMonitor for the manager's metrics Service.", map[string]any{
			"enabled":            enabled("the ServiceMonitor (needs the monitoring.coreos.com CRDs)"),
			"interval":           map[string]any{"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$", "description": "The scrape interval, a Prometheus duration such as 30s."},
			"insecureSkipVerify": map[string]any{"type": "boolean", "description": "Skip verifying the manager's serving certificate (self-signed unless one is mounted)."},
			"labels":             labels,
		}),
		"prometheusRule": object("A PrometheusRule with overlaynet's alerts (files/prometheus-rules.yaml).", map[string]any{
			"enabled": enabled("the PrometheusRule (needs the monitoring.coreos.com CRDs)"),
			"labels":  labels,
		}),
		"grafanaDashboard": object("A ConfigMap holding the Grafana dashboard (files/grafana-dashboard.json).", map[string]any{
			"enabled":   enabled("the dashboard ConfigMap"),
			"namespace": map[string]any{"type": "string", "description": "The namespace Grafana's sidecar watches; empty means the release namespace."},
			"labels":    labels,
		}),
	})
}
