package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics of the address space (B3). They are registered with controller-runtime's
// registry and served on the manager's metrics endpoint.
var (
	poolBlocks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "overlaynet_pool_blocks",
		Help: "Pod CIDR blocks per family and state (total, allocated, free).",
	}, []string{"family", "state"})
	allocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "overlaynet_block_allocations_total",
		Help: "Blocks claimed for nodes, per family.",
	}, []string{"family"})
	allocationFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "overlaynet_block_allocation_failures_total",
		Help: "Node allocations that could not complete, by reason (PodCIDRExhausted, RouteTableFull, ...).",
	}, []string{"reason"})
	releases = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "overlaynet_block_releases_total",
		Help: "Block claims released because their Node is gone or held a spare.",
	})
	conflicts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "overlaynet_block_claim_conflicts_total",
		Help: "Claims the API server refused because another writer held the block first.",
	})
	allocationLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "overlaynet_node_allocation_duration_seconds",
		Help:    "Time to give a node its blocks within one reconcile.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	claimsIgnored = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "overlaynet_block_claims_ignored_total",
		Help: "BlockClaims seen whose name, family or block is malformed; they are not counted as allocations.",
	})
	statusRepairs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "overlaynet_nnc_status_repairs_total",
		Help: "NodeNetworkConfig statuses someone else changed that the controller rewrote from the claims.",
	})
	nodesWaiting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "overlaynet_nodes_waiting",
		Help: "Nodes that could not be allocated and wait for address space.",
	})
	nodeStates = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "overlaynet_nodes",
		Help: "Nodes by state: total, allocated (NNC Allocated), programmed (the agent programmed the NNC's generation).",
	}, []string{"state"})
)

// Collectors are the manager's own metrics. The chart's alerts and dashboard may use only
// these and controller-runtime's (a test in charts/ checks).
var Collectors = []prometheus.Collector{poolBlocks, allocations, allocationFailures, releases, conflicts, allocationLatency, nodesWaiting, nodeStates, claimsIgnored, statusRepairs}

func init() {
	metrics.Registry.MustRegister(Collectors...)
}
