package agent

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// ManagerOptions returns manager options for the agent of nodeName. The agent caches
// NodeNetworkConfigs and the OverlayCluster's facts (ClusterFacts) only, and keeps them small: managed fields go from every object, and
// conditions and annotations from every peer, since only their spec addresses matter. At
// 5,000 nodes that is what every node of the cluster holds in memory (R13).
//
// Controller names are not checked for uniqueness, because tests and the demo run several
// agents in one process.
func ManagerOptions(nodeName string, scheme *runtime.Scheme, metricsAddr, probeAddr string) ctrl.Options {
	return ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{
				&v1alpha1.NodeNetworkConfig{}: {Transform: TrimForCache(nodeName)},
				&v1alpha1.OverlayCluster{}:    {Transform: trimCluster},
			},
			DefaultTransform: cache.TransformStripManagedFields(),
		},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	}
}

// TrimForCache returns a cache transform that drops what the agent never reads from
// NodeNetworkConfigs.
func TrimForCache(nodeName string) func(any) (any, error) {
	return func(in any) (any, error) {
		nnc, ok := in.(*v1alpha1.NodeNetworkConfig)
		if !ok {
			return in, nil
		}
		nnc.ManagedFields = nil
		if nnc.Name != nodeName {
			nnc.Annotations = nil
			nnc.Status.Conditions = nil
			nnc.Spec.ReservedIPs = nil // the VNet, not a route, reaches a peer's pods (R40)
		}
		return nnc, nil
	}
}

// trimCluster keeps of the OverlayCluster only what the agent reads: its facts, and of
// the spec the mode and the crossSubnet setting (B9).
func trimCluster(in any) (any, error) {
	ovc, ok := in.(*v1alpha1.OverlayCluster)
	if !ok {
		return in, nil
	}
	ovc.ManagedFields = nil
	ovc.Annotations = nil
	ovc.Spec = v1alpha1.OverlayClusterSpec{Mode: ovc.Spec.Mode, CrossSubnet: ovc.Spec.CrossSubnet}
	ovc.Status = *ClusterFacts(&ovc.Status)
	return ovc, nil
}
