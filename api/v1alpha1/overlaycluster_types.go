package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OverlayClusterSpec is the cluster's pod network as the platform team declares it.
//
// Lists are bounded (MaxItems) so that every CEL rule stays inside the API server's cost
// budget.
type OverlayClusterSpec struct {
	// mode is the networking model: Overlay, Kubenet or NodeSubnet (the legacy Azure CNI
	// model). Moving from Kubenet or NodeSubnet to Overlay runs a migration; leaving
	// Overlay is refused (R52).
	// +kubebuilder:default=Overlay
	// +optional
	Mode NetworkMode `json:"mode,omitempty"`

	// ipFamilies is [IPv4] or [IPv4, IPv6] (R7). IPv6-only is not supported.
	// +kubebuilder:default={IPv4}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=atomic
	// +optional
	IPFamilies []IPFamily `json:"ipFamilies,omitempty"`

	// podCIDRs holds one private pod CIDR per family, in ipFamilies order. In dual-stack a
	// list holding only the IPv4 entry takes the IPv6 default fd12:3456:789a::/64 (R6).
	// An entry may later be widened to a superset; use additionalPodCIDRs to add space
	// (B1).
	// +kubebuilder:default={"10.244.0.0/16"}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +optional
	PodCIDRs []string `json:"podCIDRs,omitempty"`

	// additionalPodCIDRs are extra pod CIDRs of either family, used once the ones before
	// them are full (B1). Appending one never moves an existing block.
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +optional
	AdditionalPodCIDRs []string `json:"additionalPodCIDRs,omitempty"`

	// serviceCIDRs holds one service CIDR per family, in ipFamilies order. In dual-stack a
	// list holding only the IPv4 entry takes the IPv6 default fd12:3456:789a:1::/108 (R6).
	// +kubebuilder:default={"10.0.0.0/16"}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +optional
	ServiceCIDRs []string `json:"serviceCIDRs,omitempty"`

	// dnsServiceIP is the cluster DNS service address, inside the IPv4 service CIDR and
	// neither its network address nor its first host (R5).
	// +kubebuilder:default="10.0.0.10"
	// +kubebuilder:validation:MaxLength=39
	// +optional
	DNSServiceIP string `json:"dnsServiceIP,omitempty"`

	// vnetCIDRs is the address space of the node network (the VNet).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +required
	VNetCIDRs []string `json:"vnetCIDRs"`

	// connectedCIDRs are peered VNets, ExpressRoute, VPN and on-premises ranges that pod
	// and service CIDRs must not overlap (R2, R3).
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +optional
	ConnectedCIDRs []string `json:"connectedCIDRs,omitempty"`

	// additionalNonMasqueradeCIDRs are destinations, besides the pod CIDRs, to which pod
	// traffic keeps its source address (a custom ip-masq-agent configuration). They can
	// cut connectivity in Overlay mode and are reported before a migration (R54).
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=43
	// +listType=atomic
	// +optional
	AdditionalNonMasqueradeCIDRs []string `json:"additionalNonMasqueradeCIDRs,omitempty"`

	// maxPodsPerNode is the pod limit of nodes in no pool. Unset means the mode's default:
	// Overlay 250, Kubenet 110, NodeSubnet 30 (R12, R32, R41).
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=250
	// +optional
	MaxPodsPerNode *int32 `json:"maxPodsPerNode,omitempty"`

	// ipv4BlockPrefixLength is the size of the block each node gets from the IPv4 pod
	// CIDR: /24 by default (R10, B2).
	// +kubebuilder:default=24
	// +kubebuilder:validation:Minimum=8
	// +kubebuilder:validation:Maximum=30
	// +optional
	IPv4BlockPrefixLength int32 `json:"ipv4BlockPrefixLength,omitempty"`

	// ipv6BlockPrefixLength is the size of the block each node gets from the IPv6 pod
	// CIDR. Unset means /120 in Overlay (R11) and the pod CIDR's length + 16 in Kubenet
	// (R34).
	// +kubebuilder:validation:Minimum=48
	// +kubebuilder:validation:Maximum=124
	// +optional
	IPv6BlockPrefixLength *int32 `json:"ipv6BlockPrefixLength,omitempty"`

	// nodePools group nodes by label; each pool may have its own node subnet and pod
	// limit (R12, R14). A node matches the first pool whose selector selects it.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +optional
	NodePools []NodePool `json:"nodePools,omitempty"`

	// networkPolicy names the policy engine the cluster runs (declared; used by R19, R35,
	// R50).
	// +kubebuilder:default=None
	// +optional
	NetworkPolicy NetworkPolicyEngine `json:"networkPolicy,omitempty"`

	// outboundType is how the cluster reaches the internet (declared; used by R19).
	// +kubebuilder:default=LoadBalancer
	// +optional
	OutboundType OutboundType `json:"outboundType,omitempty"`

	// virtualNodes declares that the virtual-nodes add-on is wanted (R18, R19, R35).
	// +kubebuilder:default=false
	// +optional
	VirtualNodes bool `json:"virtualNodes"`
}

// NodePool is a set of nodes selected by labels that share a subnet and a pod limit.
type NodePool struct {
	// name identifies the pool; it is used as a label value, so it is at most 63
	// characters of label syntax (R9).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$`
	// +required
	Name string `json:"name"`

	// nodeSelector selects the pool's nodes. An empty selector selects every node.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// subnetCIDR is the pool's node subnet inside the VNet. In NodeSubnet mode pods take
	// their addresses from it (R40).
	// +kubebuilder:validation:MaxLength=43
	// +optional
	SubnetCIDR string `json:"subnetCIDR,omitempty"`

	// maxPods is the pod limit of the pool's nodes; unset means the cluster's
	// maxPodsPerNode (R12).
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=250
	// +optional
	MaxPods *int32 `json:"maxPods,omitempty"`

	// osType is the pool's operating system.
	// +kubebuilder:default=Linux
	// +optional
	OSType OSType `json:"osType,omitempty"`
}

// Condition types of an OverlayCluster.
const (
	// ClusterReady is True when the configuration is valid, every node that can be
	// allocated is, and no migration is running. kstatus reads it.
	ClusterReady = "Ready"
	// ClusterConfigValid is False when the spec breaks a rule that admission could not
	// check; the reason or message names the rule.
	ClusterConfigValid = "ConfigValid"
	// ClusterPodCIDRAvailable is False when a family's pool has no free block left.
	ClusterPodCIDRAvailable = "PodCIDRAvailable"
	// ClusterMigrating is True while nodes move from Kubenet or NodeSubnet to Overlay.
	ClusterMigrating = "Migrating"
)

// PoolStatus reports one family's pod address space.
type PoolStatus struct {
	// family is the pool's IP family.
	Family IPFamily `json:"family"`
	// cidrs are the effective pod CIDRs of this family, podCIDRs entry first.
	// +listType=atomic
	CIDRs []string `json:"cidrs"`
	// blockPrefixLength is the prefix length of every node block of this family.
	BlockPrefixLength int32 `json:"blockPrefixLength"`
	// totalBlocks is the number of usable blocks, as a decimal string because an IPv6
	// pool can hold more than 2^63.
	TotalBlocks string `json:"totalBlocks"`
	// allocatedBlocks is the number of blocks held by nodes.
	AllocatedBlocks int64 `json:"allocatedBlocks"`
	// freeBlocks is totalBlocks - allocatedBlocks, as a decimal string.
	FreeBlocks string `json:"freeBlocks"`
}

// NetworkRule is a flow the node network must allow (R17).
type NetworkRule struct {
	// name identifies the rule: node-to-node, node-to-pod or pod-to-pod.
	Name string `json:"name"`
	// sources are the source ranges.
	// +listType=atomic
	Sources []string `json:"sources"`
	// destinations are the destination ranges.
	// +listType=atomic
	Destinations []string `json:"destinations"`
	// protocol is always Any: every protocol must pass.
	Protocol string `json:"protocol"`
	// ports is always Any: every port must pass.
	Ports string `json:"ports"`
}

// RouteTableStatus counts a Kubenet cluster's routes against the table's limit (R31).
type RouteTableStatus struct {
	// routes is the number of routes in the table (one per allocated node).
	Routes int32 `json:"routes"`
	// limit is the route table's capacity.
	Limit int32 `json:"limit"`
}

// OverlayClusterStatus is what the controller observed and decided.
type OverlayClusterStatus struct {
	// observedGeneration is the generation the status describes; set only when a
	// reconcile succeeded.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, ConfigValid, PodCIDRAvailable and, during a migration,
	// Migrating.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// mode is the networking model the nodes are allocated in. It trails spec.mode until
	// a migration completes.
	// +optional
	Mode NetworkMode `json:"mode,omitempty"`

	// pools reports each family's pod address space, in ipFamilies order.
	// +listType=atomic
	// +optional
	Pools []PoolStatus `json:"pools,omitempty"`

	// nodes is the number of Nodes in the cluster.
	// +optional
	Nodes int32 `json:"nodes,omitempty"`

	// allocatedNodes is the number of Nodes whose NodeNetworkConfig is Allocated.
	// +optional
	AllocatedNodes int32 `json:"allocatedNodes,omitempty"`

	// maxPodsPerNode is the effective pod limit of nodes in no pool.
	// +optional
	MaxPodsPerNode int32 `json:"maxPodsPerNode,omitempty"`

	// routeTable counts Kubenet routes against the 400-route limit (R31).
	// +optional
	RouteTable *RouteTableStatus `json:"routeTable,omitempty"`

	// nonMasqueradeCIDRs are the destinations to which pod traffic keeps its source
	// address: the pod CIDRs, plus the VNet in NodeSubnet mode, plus user extras (R15,
	// R42).
	// +listType=atomic
	// +optional
	NonMasqueradeCIDRs []string `json:"nonMasqueradeCIDRs,omitempty"`

	// networkRules are the flows the node network must allow (R17).
	// +listType=atomic
	// +optional
	NetworkRules []NetworkRule `json:"networkRules,omitempty"`
}

// OverlayCluster is the cluster-wide pod network configuration. There is exactly one, named
// "default".
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=ovc
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'default'",message="the OverlayCluster must be named 'default': there is one per cluster"
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Pod CIDRs",type=string,JSONPath=`.spec.podCIDRs`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes`
// +kubebuilder:printcolumn:name="Allocated",type=integer,JSONPath=`.status.allocatedNodes`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OverlayCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired pod network.
	// +required
	Spec OverlayClusterSpec `json:"spec"`

	// status is what the controller observed.
	// +optional
	Status OverlayClusterStatus `json:"status,omitempty"`
}

// OverlayClusterList is a list of OverlayClusters.
//
// +kubebuilder:object:root=true
type OverlayClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OverlayCluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OverlayCluster{}, &OverlayClusterList{})
}
