package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// indexNodeIP is the field index of Nodes by InternalIP (canonical text), which finds the
// Nodes that share an address without listing every Node.
const indexNodeIP = "status.addresses.internalIP"

// internalIPs returns the canonical text of a Node's parseable InternalIPs, for the index.
func internalIPs(o client.Object) []string {
	node, ok := o.(*corev1.Node)
	if !ok {
		return nil
	}
	var out []string
	for _, a := range node.Status.Addresses {
		if ip, err := netip.ParseAddr(a.Address); a.Type == corev1.NodeInternalIP && err == nil {
			out = append(out, ip.WithZone("").Unmap().String())
		}
	}
	return out
}

// nodeAddressProblem says why an InternalIP may not be used as a node address, or "".
// Peers route a node's blocks through its address, so it must be a plain (zone-free, not
// IPv4-mapped) global unicast address inside the node network.
func nodeAddressProblem(raw string, vnets []netip.Prefix) (netip.Addr, string) {
	ip, err := netip.ParseAddr(raw)
	switch {
	case err != nil:
		return ip, fmt.Sprintf("InternalIP %q is not an IP address", raw)
	case ip.Zone() != "":
		return ip, fmt.Sprintf("InternalIP %s carries a zone", raw)
	case ip.Is4In6():
		return ip, fmt.Sprintf("InternalIP %s is an IPv4-mapped IPv6 address", raw)
	case !ip.IsGlobalUnicast():
		return ip, fmt.Sprintf("InternalIP %s is not a global unicast address", raw)
	case !slices.ContainsFunc(vnets, func(p netip.Prefix) bool { return p.Contains(ip) }):
		return ip, fmt.Sprintf("InternalIP %s lies outside the node network spec.vnetCIDRs %v", raw, netconf.Strings(vnets))
	}
	return ip, ""
}

// usableNodeIPs picks, per family, the Node's first InternalIP that is a valid node address
// (nodeAddressProblem) and unique: when Nodes share an address, the one created first (then
// the lowest name) keeps it, so a Node registered later cannot take over the routes of
// another. problem lists why a needed family has no address ("" when every one has).
func usableNodeIPs(ctx context.Context, c client.Reader, node *corev1.Node, vnets []netip.Prefix, families []v1.IPFamily) (map[v1.IPFamily]netip.Addr, string, error) {
	out := map[v1.IPFamily]netip.Addr{}
	var why []string
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, problem := nodeAddressProblem(a.Address, vnets)
		if problem == "" {
			if _, have := out[netconf.FamilyOf(ip)]; have {
				continue
			}
			owner, err := firstHolder(ctx, c, ip)
			if err != nil {
				return nil, "", err
			}
			if owner != "" && owner != node.Name {
				problem = fmt.Sprintf("InternalIP %s is also the address of node %s, registered before this one", ip, owner)
			}
		}
		if problem != "" {
			why = append(why, problem)
			continue
		}
		out[netconf.FamilyOf(ip)] = ip
	}
	var missing []string
	for _, f := range families {
		if _, ok := out[f]; !ok {
			missing = append(missing, string(f))
		}
	}
	if len(missing) == 0 {
		return out, "", nil
	}
	msg := fmt.Sprintf("the node has no usable %s InternalIP (unique, zone-free, global unicast, inside spec.vnetCIDRs)", strings.Join(missing, " and "))
	if len(why) > 0 {
		msg += ": " + strings.Join(why, "; ")
	}
	return out, msg, nil
}

// firstHolder returns the name of the Node that holds ip. Of the live Nodes listing it as
// an InternalIP, a Node whose NodeNetworkConfig already publishes it keeps it (an
// incumbent is never displaced by a newcomer), else the one created first, then the lowest
// name: every reconcile reaches the same answer.
func firstHolder(ctx context.Context, c client.Reader, ip netip.Addr) (string, error) {
	nodes := &corev1.NodeList{}
	if err := c.List(ctx, nodes, client.MatchingFields{indexNodeIP: ip.String()}, client.UnsafeDisableDeepCopy); err != nil {
		return "", fmt.Errorf("finding the nodes with address %s: %w", ip, err)
	}
	type candidate struct {
		node      *corev1.Node
		incumbent bool
	}
	var best *candidate
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if !n.DeletionTimestamp.IsZero() {
			continue
		}
		cand := &candidate{node: n}
		if len(nodes.Items) > 1 {
			nnc := &v1.NodeNetworkConfig{}
			if err := c.Get(ctx, client.ObjectKey{Name: n.Name}, nnc); err == nil {
				cand.incumbent = nnc.Spec.NodeUID == string(n.UID) && slices.Contains(nnc.Spec.NodeIPs, ip.String())
			}
		}
		if best == nil || better(cand.incumbent, n, best.incumbent, best.node) {
			best = cand
		}
	}
	if best == nil {
		return "", nil
	}
	return best.node.Name, nil
}

// better orders the claims of two Nodes on one address: incumbent first, then created
// first, then lowest name.
func better(aInc bool, a *corev1.Node, bInc bool, b *corev1.Node) bool {
	if aInc != bInc {
		return aInc
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
