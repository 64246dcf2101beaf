package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/overlaynet/overlaynet/internal/agent/datapath"
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
	// The datapath's size after the last apply: counts live here, not in the Programmed
	// condition, so that a peer joining or leaving costs no status write (B8).
	routes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "overlaynet_agent_routes",
		Help: "Routes to peer blocks that the agent owns.",
	}, []string{"node"})
	rules = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "overlaynet_agent_nftables_rules",
		Help: "Rules in the agent's nftables table.",
	}, []string{"node"})
	proxyNeighbors = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "overlaynet_agent_proxy_neighbors",
		Help: "Proxy neighbour entries the agent owns on the uplink (NodeSubnet pod addresses).",
	}, []string{"node"})
	statusWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "overlaynet_agent_status_writes_total",
		Help: "Writes of the node's Programmed condition.",
	}, []string{"node"})
)

func init() {
	metrics.Registry.MustRegister(skippedPeers, skippedEntries, routes, rules, proxyNeighbors, statusWrites)
}

// recordStats publishes the datapath's size after an apply.
func recordStats(node string, st datapath.Stats) {
	routes.WithLabelValues(node).Set(float64(st.Routes))
	rules.WithLabelValues(node).Set(float64(st.Rules))
	proxyNeighbors.WithLabelValues(node).Set(float64(st.ProxyNeighbors))
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
