package v1alpha1

// NetworkMode is the networking model of the cluster.
// +kubebuilder:validation:Enum=Overlay;Kubenet;NodeSubnet
type NetworkMode string

const (
	// ModeOverlay gives every node a block of a private pod CIDR that is not routed outside
	// the cluster, and SNATs pod traffic that leaves the pod CIDRs (R10–R19).
	ModeOverlay NetworkMode = "Overlay"
	// ModeKubenet is the legacy model with one route per node in a route table limited to
	// 400 routes (R30–R35).
	ModeKubenet NetworkMode = "Kubenet"
	// ModeNodeSubnet is the legacy Azure CNI model: pods take addresses from the node
	// subnet, reserved per node up front (R40–R42).
	ModeNodeSubnet NetworkMode = "NodeSubnet"
)

// IPFamily is an IP address family.
// +kubebuilder:validation:Enum=IPv4;IPv6
type IPFamily string

const (
	// IPv4 is the IPv4 family.
	IPv4 IPFamily = "IPv4"
	// IPv6 is the IPv6 family.
	IPv6 IPFamily = "IPv6"
)

// NetworkPolicyEngine names the network policy implementation the cluster runs. overlaynet
// does not enforce policy; the value feeds the compatibility rules (R19, R35, R50).
// +kubebuilder:validation:Enum=None;Azure;Calico;Cilium
type NetworkPolicyEngine string

const (
	// NetworkPolicyNone means no network policy engine.
	NetworkPolicyNone NetworkPolicyEngine = "None"
	// NetworkPolicyAzure is Azure Network Policy Manager.
	NetworkPolicyAzure NetworkPolicyEngine = "Azure"
	// NetworkPolicyCalico is Calico.
	NetworkPolicyCalico NetworkPolicyEngine = "Calico"
	// NetworkPolicyCilium is Cilium.
	NetworkPolicyCilium NetworkPolicyEngine = "Cilium"
)

// OutboundType is how the cluster reaches the internet. Declared only; it feeds the
// compatibility rules (R19).
// +kubebuilder:validation:Enum=LoadBalancer;NATGateway;UserDefinedRouting
type OutboundType string

const (
	// OutboundLoadBalancer uses a load balancer's outbound rules.
	OutboundLoadBalancer OutboundType = "LoadBalancer"
	// OutboundNATGateway uses a managed NAT gateway.
	OutboundNATGateway OutboundType = "NATGateway"
	// OutboundUserDefinedRouting sends egress through user-defined routes.
	OutboundUserDefinedRouting OutboundType = "UserDefinedRouting"
)

// OSType is the operating system of a node pool.
// +kubebuilder:validation:Enum=Linux;Windows
type OSType string

const (
	// OSLinux is Linux.
	OSLinux OSType = "Linux"
	// OSWindows is Windows.
	OSWindows OSType = "Windows"
)

// Defaults of R6 and the per-mode max-pods defaults (R12, R32, R41). The CRD schema
// carries the family-independent ones; the controller and overlayctl apply the rest
// through internal/validation.
const (
	DefaultIPv4PodCIDR       = "10.244.0.0/16"
	DefaultIPv6PodCIDR       = "fd12:3456:789a::/64"
	DefaultIPv4ServiceCIDR   = "10.0.0.0/16"
	DefaultIPv6ServiceCIDR   = "fd12:3456:789a:1::/108"
	DefaultDNSServiceIP      = "10.0.0.10"
	DefaultIPv4BlockPrefix   = 24
	DefaultIPv6BlockPrefix   = 120
	DefaultMaxPodsOverlay    = 250
	DefaultMaxPodsKubenet    = 110
	DefaultMaxPodsNodeSubnet = 30
	// MinMaxPods and MaxMaxPods bound max pods per node in every mode (R12, R32, R41).
	MinMaxPods = 10
	MaxMaxPods = 250
	// NodeSubnetMinPrefixLength bounds a NodeSubnet pool's subnetCIDR: /16 or longer, at
	// most 65,536 addresses (R43).
	NodeSubnetMinPrefixLength = 16
	// KubenetRouteLimit is the size of a Kubenet route table (R31).
	KubenetRouteLimit = 400
	// ClusterName is the only accepted name of an OverlayCluster.
	ClusterName = "default"
)
