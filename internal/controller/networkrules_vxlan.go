package controller

import (
	"strconv"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// vxlanRules is the R17 rule a cluster that may encapsulate adds (B9): node to node on the
// VXLAN UDP port. The node-to-node rule already allows it; naming it lets the firewall
// between two subnets be opened for exactly what crosses it.
func vxlanRules(cfg *netconf.Config) []v1.NetworkRule {
	if !cfg.CrossSubnet.MayEncapsulate() || cfg.Mode == v1.ModeNodeSubnet {
		return nil
	}
	vnet := netconf.Strings(cfg.VNetCIDRs)
	return []v1.NetworkRule{{Name: "vxlan", Sources: vnet, Destinations: vnet, Protocol: "UDP", Ports: strconv.Itoa(cfg.CrossSubnet.Port)}}
}
