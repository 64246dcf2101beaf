// Package v1alpha1 contains the overlaynet API: the cluster-wide OverlayCluster, the
// per-node NodeNetworkConfig and the per-block BlockClaim.
//
// +kubebuilder:object:generate=true
// +groupName=network.overlaynet.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every overlaynet object.
	GroupVersion = schema.GroupVersion{Group: "network.overlaynet.io", Version: "v1alpha1"}

	// SchemeBuilder registers the overlaynet types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the overlaynet types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
