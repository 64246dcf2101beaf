package controller

import "github.com/prometheus/client_golang/prometheus"

// PoolBlocksGauge exposes the pool gauge to the external test package.
func PoolBlocksGauge(family, state string) prometheus.Gauge {
	return poolBlocks.WithLabelValues(family, state)
}

// ClaimsIgnored exposes the malformed-claims counter to the external test package.
func ClaimsIgnored() prometheus.Counter { return claimsIgnored }
