// Package controller holds the overlaynet reconcilers: read, decide with the pure packages
// (internal/ipam, internal/validation), write, report.
package controller

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// DefaultWorkers is the default number of concurrent node reconciles. Allocation is
// bounded by API round-trips, not CPU, so more workers than cores pays off.
const DefaultWorkers = 16

// Options tune the controllers.
type Options struct {
	// Workers is the number of concurrent node reconciles.
	Workers int
}

// SetupWithManager registers every overlaynet reconciler with mgr.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	_ = mgr
	_ = opts
	return nil
}
