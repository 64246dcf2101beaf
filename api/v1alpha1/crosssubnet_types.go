package v1alpha1

// CrossSubnetMode says how a node reaches the pods of a peer that is not on its own link
// (B9).
// +kubebuilder:validation:Enum=CrossSubnet;VXLAN;Direct
type CrossSubnetMode string

const (
	// CrossSubnetModeCrossSubnet routes directly to peers on the node's own link and
	// encapsulates in VXLAN only to peers elsewhere (Calico's vxlanMode CrossSubnet,
	// flannel's DirectRouting). The default of every block mode.
	CrossSubnetModeCrossSubnet CrossSubnetMode = "CrossSubnet"
	// CrossSubnetModeVXLAN encapsulates to every peer.
	CrossSubnetModeVXLAN CrossSubnetMode = "VXLAN"
	// CrossSubnetModeDirect never encapsulates: every peer block is routed to the peer's
	// node IP, for fabrics that route pod CIDRs themselves (an Azure VNet, a BGP fabric).
	// A peer off the node's link is then a programming failure, as before this field.
	CrossSubnetModeDirect CrossSubnetMode = "Direct"
)

// Defaults of CrossSubnetSpec.
const (
	// DefaultVXLANPort is the IANA VXLAN port (RFC 7348).
	DefaultVXLANPort = 4789
	// DefaultVXLANVNI is the VXLAN network identifier; flannel uses 1 and Calico 4096,
	// so overlaynet takes neither.
	DefaultVXLANVNI = 7900
	// MinPodMTU is the smallest pod MTU: IPv6 needs 1,280 on every link (RFC 8200), and
	// one interface carries both families.
	MinPodMTU = 1280
)

// CrossSubnetSpec says how pod traffic reaches nodes that do not share a link (B9).
//
// Every field is optional and has no schema default, so that a GitOps manifest without it
// never drifts from what the API server stores; the defaults are applied by the manager and
// the agents: mode CrossSubnet (Direct in NodeSubnet mode, whose pods hold VNet addresses),
// vxlanPort 4789, vni 7900, pod MTU from the uplink. The rules X1-X3 refuse settings that
// cannot work (internal/validation).
type CrossSubnetSpec struct {
	// mode is CrossSubnet (direct on the node's link, VXLAN elsewhere; the default),
	// VXLAN (always encapsulate) or Direct (never; the fabric routes pod CIDRs).
	// +optional
	Mode CrossSubnetMode `json:"mode,omitempty"`

	// vxlanPort is the UDP port of the VXLAN tunnels, 4789 when unset. The node network
	// must let it pass between nodes (status.networkRules, R17).
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	// +optional
	VXLANPort *int32 `json:"vxlanPort,omitempty"`

	// vni is the VXLAN network identifier, 7900 when unset.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16777215
	// +optional
	VNI *int32 `json:"vni,omitempty"`

	// podMTU overrides the pods' MTU. Unset, each node gives its pods its uplink's MTU
	// less the VXLAN overhead (50 bytes over IPv4, 70 over IPv6) whenever the mode may
	// encapsulate. At least 1280 (X2).
	// +kubebuilder:validation:Minimum=1280
	// +kubebuilder:validation:Maximum=65535
	// +optional
	PodMTU *int32 `json:"podMTU,omitempty"`
}
