package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeNetworkConfigSpec binds the object to one incarnation of its Node.
type NodeNetworkConfigSpec struct {
	// nodeUID is the UID of the Node this configuration belongs to. A Node deleted and
	// recreated under the same name has a new UID and never inherits this object's
	// allocation (B4). Set by the controller at creation; immutable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="nodeUID is immutable"
	// +required
	NodeUID string `json:"nodeUID"`

	// mode is the networking model the node must program. The controller sets it at
	// creation and changes it once, when a migration to Overlay reaches the node; the
	// change bumps the generation, so an agent's Programmed condition for the new mode is
	// told apart by its observedGeneration.
	// +optional
	Mode NetworkMode `json:"mode,omitempty"`
}

// Condition types of a NodeNetworkConfig.
const (
	// NodeAllocated is True when the node holds its blocks (or reserved addresses) in
	// every family. Written by the controller.
	NodeAllocated = "Allocated"
	// NodeProgrammed is True when the node agent has programmed routes, SNAT and the CNI
	// configuration for the generation it names. Written by the node agent only.
	NodeProgrammed = "Programmed"
)

// Reasons of the Allocated condition.
const (
	// ReasonAllocated: the node holds its blocks.
	ReasonAllocated = "Allocated"
	// ReasonPoolExhausted: a family's pool has no free block; the node waits for space.
	ReasonPoolExhausted = "PodCIDRExhausted"
	// ReasonRouteLimit: the Kubenet route table is full (R31).
	ReasonRouteLimit = "RouteTableFull"
	// ReasonSubnetExhausted: the node subnet cannot hold another reservation (R40, R41).
	ReasonSubnetExhausted = "NodeSubnetExhausted"
	// ReasonNoNodeIP: the Node has no usable InternalIP of a family it needs: unique among
	// the Nodes, without a zone, global unicast and inside spec.vnetCIDRs. The node waits.
	ReasonNoNodeIP = "NodeIPMissing"
	// ReasonInvalidConfig: the OverlayCluster breaks a rule; nothing new is allocated.
	ReasonInvalidConfig = "InvalidConfiguration"
	// ReasonNoCluster: there is no OverlayCluster named default yet.
	ReasonNoCluster = "OverlayClusterMissing"
)

// Reasons of the events the controller emits about allocation objects it did not write.
const (
	// ReasonStatusRepaired: a NodeNetworkConfig status differed from what the claims and
	// the configuration say (someone else wrote it); the controller rewrote it.
	ReasonStatusRepaired = "StatusRepaired"
	// ReasonClaimIgnored: a BlockClaim whose name, family or block is malformed is not
	// counted as an allocation; it still holds its name on the API server.
	ReasonClaimIgnored = "ClaimIgnored"
	// ReasonClaimReleased: a BlockClaim whose holder matches no live Node was deleted.
	ReasonClaimReleased = "ClaimReleased"
)

// NodeNetworkConfigStatus is the node's share of the pod network.
type NodeNetworkConfigStatus struct {
	// mode is the networking model this allocation follows.
	// +optional
	Mode NetworkMode `json:"mode,omitempty"`

	// podCIDRs are the node's blocks, one per family in ipFamilies order (Overlay,
	// Kubenet).
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2
	// +optional
	PodCIDRs []string `json:"podCIDRs,omitempty"`

	// reservedIPs are the node-subnet addresses held for this node's pods (NodeSubnet), as
	// CIDRs and first-last ranges, merged where contiguous.
	// +listType=atomic
	// +optional
	ReservedIPs []string `json:"reservedIPs,omitempty"`

	// nodeSubnet is the node subnet the reservedIPs belong to (NodeSubnet): the node agent
	// hands pods their addresses with its prefix length.
	// +optional
	NodeSubnet string `json:"nodeSubnet,omitempty"`

	// nodeIPs are the node's InternalIP addresses, one per family in ipFamilies order.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2
	// +optional
	NodeIPs []string `json:"nodeIPs,omitempty"`

	// maxPods is the pod limit of this node, from its pool.
	// +optional
	MaxPods int32 `json:"maxPods,omitempty"`

	// clusterPodCIDRs is the whole pod address space.
	// +listType=atomic
	// +optional
	ClusterPodCIDRs []string `json:"clusterPodCIDRs,omitempty"`

	// nonMasqueradeCIDRs are the destinations that keep the pod source address; the
	// agent SNATs everything else to the node IP (R15, R42).
	// +listType=atomic
	// +optional
	NonMasqueradeCIDRs []string `json:"nonMasqueradeCIDRs,omitempty"`

	// conditions: Allocated (controller) and Programmed (node agent).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NodeNetworkConfig is one Node's pod network: its blocks, addresses and limits. It is named
// after its Node and owned by it, so it goes when the Node goes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=nnc
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.metadata.name`
// +kubebuilder:printcolumn:name="Pod CIDRs",type=string,JSONPath=`.status.podCIDRs`
// +kubebuilder:printcolumn:name="Max Pods",type=integer,JSONPath=`.status.maxPods`
// +kubebuilder:printcolumn:name="Allocated",type=string,JSONPath=`.status.conditions[?(@.type=="Allocated")].status`
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NodeNetworkConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec binds the object to its Node.
	// +required
	Spec NodeNetworkConfigSpec `json:"spec"`

	// status is the node's allocation.
	// +optional
	Status NodeNetworkConfigStatus `json:"status,omitempty"`
}

// NodeNetworkConfigList is a list of NodeNetworkConfigs.
//
// +kubebuilder:object:root=true
type NodeNetworkConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeNetworkConfig `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NodeNetworkConfig{}, &NodeNetworkConfigList{})
}
