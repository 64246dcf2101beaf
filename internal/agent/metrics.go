package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// The agent's metrics, labelled by node: one series per agent in production, and one per
// agent when several run in one process (tests, make bench-fleet).
var (
	skippedPeers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "overlaynet_agent_skipped_peers",
		Help: "Peers with NodeNetworkConfig entries that break the rules and are not programmed (B7).",
	}, []string{"node"})
	skippedEntries = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "overlaynet_agent_skipped_peer_entries",
		Help: "Peer blocks and node IPs that break the rules and are not programmed (B7).",
	}, []string{"node"})
)

func init() {
	metrics.Registry.MustRegister(skippedPeers, skippedEntries)
}

// recordSkipped publishes what the last computation skipped.
func recordSkipped(node string, skipped []desired.Skipped) {
	entries := 0
	for _, s := range skipped {
		entries += len(s.Problems)
	}
	skippedPeers.WithLabelValues(node).Set(float64(len(skipped)))
	skippedEntries.WithLabelValues(node).Set(float64(entries))
}
