package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeNetworkConfigSpec is the node's share of the pod network, decided by the controller:
// the Node incarnation it belongs to, the networking model, and the node's blocks (or
// reserved addresses), addresses and pod limit. The node agent programs it and reports on
// it in status, like a Node's spec.podCIDRs written by kube-controller-manager.
//
// The allocation is in the spec, not the status, so that the controller's create of the
// object carries it: a node costs two API writes, its BlockClaim and this object (B8).
// Agents build routes and SNAT from every node's spec, so the schema bounds it (B7): every
// list has maxItems and every item a maxLength, and every address is a canonical CIDR or IP
// checked by CEL. Only the controller writes a spec (the overlaynet-writers admission
// policy); the cluster-wide facts every node shares (pod CIDRs, no-SNAT ranges, the node
// network) are in the OverlayCluster status, one object for everyone.
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
	// creation and changes it once, when a migration to Overlay reaches the node, in the
	// same write as the node's new block; the change bumps the generation, so an agent's
	// Programmed condition for the new mode is told apart by its observedGeneration.
	// +optional
	Mode NetworkMode `json:"mode,omitempty"`

	// podCIDRs are the node's blocks, one per family in ipFamilies order (Overlay,
	// Kubenet).
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self) && string(cidr(self).masked()) == self",messageExpression="'B7: %s is not a canonical CIDR (network address, shortest lowercase form, no zone or IPv4-mapped address)'.format([self])"
	// +kubebuilder:validation:items:XValidation:rule="!isCIDR(self) || (cidr(self).ip().family() == 4 ? cidr(self).prefixLength() >= 8 && cidr(self).prefixLength() <= 30 : cidr(self).prefixLength() >= 16)",messageExpression="'B7: node block %s must be an IPv4 /8../30 or an IPv6 /16../128 (the block lengths an OverlayCluster can ask for)'.format([self])"
	// +kubebuilder:validation:XValidation:rule="size(self) < 2 || !isCIDR(self[0]) || !isCIDR(self[1]) || cidr(self[0]).ip().family() != cidr(self[1]).ip().family()",messageExpression="'B7: podCIDRs %s must hold at most one block per family'.format([self])"
	// +optional
	PodCIDRs []string `json:"podCIDRs,omitempty"`

	// reservedIPs are the node-subnet addresses held for this node's pods (NodeSubnet), as
	// CIDRs and first-last ranges, merged where contiguous.
	// Each item is a canonical address, a canonical CIDR, or first-last of two canonical
	// addresses of one family; at most one item per pod (maxPods ≤ 250).
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=79
	// +kubebuilder:validation:items:XValidation:rule="(isIP(self) && ip.isCanonical(self)) || (isCIDR(self) && string(cidr(self).masked()) == self) || (self.indexOf('-') > 0 && isIP(self.substring(0, self.indexOf('-'))) && ip.isCanonical(self.substring(0, self.indexOf('-'))) && isIP(self.substring(self.indexOf('-') + 1)) && ip.isCanonical(self.substring(self.indexOf('-') + 1)) && ip(self.substring(0, self.indexOf('-'))).family() == ip(self.substring(self.indexOf('-') + 1)).family())",messageExpression="'B7: reserved entry %s is not a canonical address, CIDR or first-last range'.format([self])"
	// +optional
	ReservedIPs []string `json:"reservedIPs,omitempty"`

	// nodeSubnet is the node subnet the reservedIPs belong to (NodeSubnet): the node agent
	// hands pods their addresses with its prefix length.
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && string(cidr(self).masked()) == self",messageExpression="'B7: nodeSubnet %s is not a canonical CIDR'.format([self])"
	// +optional
	NodeSubnet string `json:"nodeSubnet,omitempty"`

	// nodeIPs are the node's InternalIP addresses, one per family in ipFamilies order.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:MaxLength=39
	// +kubebuilder:validation:items:XValidation:rule="isIP(self) && ip.isCanonical(self)",messageExpression="'B7: node IP %s is not a canonical IP address (shortest lowercase form, no zone or IPv4-mapped address)'.format([self])"
	// +optional
	NodeIPs []string `json:"nodeIPs,omitempty"`

	// maxPods is the pod limit of this node, from its pool (R12: 10 to 250).
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=250
	// +kubebuilder:validation:XValidation:rule="self >= 10 && self <= 250",messageExpression="'R12: maxPods %d is outside 10..250'.format([self])"
	// +optional
	MaxPods int32 `json:"maxPods,omitempty"`
}

// Condition types of a NodeNetworkConfig.
const (
	// NodeAllocated is False, with the reason, while the node waits: it cannot get (all
	// of) what the configuration asks. Written by the controller, and only when it has
	// something to say: a node allocated at once has no Allocated condition (its create
	// carries its blocks in spec, and a status write would be a third write per node, B8);
	// a node that waited gets Allocated=True when the wait ends. IsAllocated reads it.
	NodeAllocated = "Allocated"
	// NodeProgrammed is True when the node agent has programmed routes, SNAT and the CNI
	// configuration for the generation it names. Written by the node agent only.
	NodeProgrammed = "Programmed"
)

// Reasons of the Allocated condition.
const (
	// ReasonAllocated: the node holds its blocks after a wait.
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

// NodeNetworkConfigStatus is what happened to the allocation: why a node waits (the
// controller's Allocated condition) and whether the node agent programmed it (Programmed).
type NodeNetworkConfigStatus struct {
	// conditions: Allocated (controller: False while the node waits, with the reason;
	// absent, or True after a wait, once spec holds everything the configuration asks) and
	// Programmed (node agent).
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NodeNetworkConfig is one Node's pod network: its blocks, addresses and limits. It is named
// after its Node and owned by it, so it goes when the Node goes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=nnc
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeUID`
// +kubebuilder:selectablefield:JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.metadata.name`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Pod CIDRs",type=string,JSONPath=`.spec.podCIDRs`
// +kubebuilder:printcolumn:name="Max Pods",type=integer,JSONPath=`.spec.maxPods`
// +kubebuilder:printcolumn:name="Allocated",type=string,JSONPath=`.status.conditions[?(@.type=="Allocated")].status`
// +kubebuilder:printcolumn:name="Programmed",type=string,JSONPath=`.status.conditions[?(@.type=="Programmed")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NodeNetworkConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the node's allocation, bound to its Node.
	// +required
	Spec NodeNetworkConfigSpec `json:"spec"`

	// status reports on the allocation: the controller's Allocated and the agent's
	// Programmed conditions.
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

// HoldsAllocation reports whether the spec holds an allocation: blocks (Overlay, Kubenet)
// or reserved addresses (NodeSubnet).
func (n *NodeNetworkConfig) HoldsAllocation() bool {
	return len(n.Spec.PodCIDRs)+len(n.Spec.ReservedIPs) > 0
}

// IsAllocated reports whether the node holds what the configuration asks: an allocation in
// spec, and no Allocated=False condition saying that it waits for more (a family's block, a
// migration's block, a valid configuration).
func (n *NodeNetworkConfig) IsAllocated() bool {
	if !n.HoldsAllocation() {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == NodeAllocated {
			return c.Status == metav1.ConditionTrue
		}
	}
	return true
}
