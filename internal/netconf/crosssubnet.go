package netconf

import (
	"cmp"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// VXLAN overheads: the outer IP header, UDP (8), VXLAN (8) and the inner Ethernet header
// (14) that every encapsulated packet carries.
const (
	VXLANOverheadIPv4 = 20 + 8 + 8 + 14
	VXLANOverheadIPv6 = 40 + 8 + 8 + 14
)

// CrossSubnet is the effective crossSubnet setting: every default applied (B9).
type CrossSubnet struct {
	// Mode is CrossSubnet, VXLAN or Direct.
	Mode v1alpha1.CrossSubnetMode
	// Port is the VXLAN UDP port.
	Port int
	// VNI is the VXLAN network identifier.
	VNI int
	// PodMTU is the pods' MTU the user asked for; 0 derives it from each node's uplink.
	PodMTU int
}

// MayEncapsulate is true when some peer may be reached through VXLAN, so that the node
// network must pass the VXLAN port and pods need an MTU that fits the encapsulation.
func (c CrossSubnet) MayEncapsulate() bool { return c.Mode != v1alpha1.CrossSubnetModeDirect }

// ResolveCrossSubnet applies the defaults of spec.crossSubnet. The mode defaults to
// CrossSubnet, which routes directly wherever the nodes share a link, exactly as before the
// setting existed, and encapsulates only to peers that could not be routed to at all: an
// existing cluster gains reachability on upgrade and changes no working path. NodeSubnet
// pods hold VNet addresses, which the node network routes itself, so that mode defaults to
// Direct (X3 refuses anything else).
func ResolveCrossSubnet(mode v1alpha1.NetworkMode, spec *v1alpha1.CrossSubnetSpec) CrossSubnet {
	c := CrossSubnet{Mode: v1alpha1.CrossSubnetModeCrossSubnet, Port: v1alpha1.DefaultVXLANPort, VNI: v1alpha1.DefaultVXLANVNI}
	if mode == v1alpha1.ModeNodeSubnet {
		c.Mode = v1alpha1.CrossSubnetModeDirect
	}
	if spec == nil {
		return c
	}
	c.Mode = cmp.Or(spec.Mode, c.Mode)
	if spec.VXLANPort != nil {
		c.Port = int(*spec.VXLANPort)
	}
	if spec.VNI != nil {
		c.VNI = int(*spec.VNI)
	}
	if spec.PodMTU != nil {
		c.PodMTU = int(*spec.PodMTU)
	}
	return c
}
