package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
	"github.com/overlaynet/overlaynet/internal/nodesubnet"
)

// reserveAddresses gives a NodeSubnet node maxPods addresses of its node subnet up front
// (R40), all or nothing. Each address is claimed with its own /32 BlockClaim, so the API
// server keeps two nodes from holding one address exactly as it does for blocks (B4).
// Reservations of one process are serialised (subnetMu): concurrent nodes would otherwise
// take turns at the same addresses and all fall short near the end of a subnet.
func (r *NodeReconciler) reserveAddresses(ctx context.Context, node *corev1.Node, cfg *netconf.Config, desired *v1.NodeNetworkConfigStatus) error {
	r.subnetMu.Lock()
	defer r.subnetMu.Unlock()
	uid := string(node.UID)
	ip := nodeIP(node, v1.IPv4)
	subnet := nodeSubnet(cfg, node.Labels, ip)
	if !subnet.IsValid() {
		return r.waitFor(node, desired, &exhaustedError{v1.ReasonSubnetExhausted, fmt.Sprintf(
			"the node's IPv4 address %v lies in no node subnet (spec.nodePools[].subnetCIDR or spec.vnetCIDRs): it cannot reserve pod addresses (R40)", ip)})
	}
	// A node can register with an address the controller had reserved for another node's
	// pods (the cloud assigns node addresses, not us). The node's own address wins: the
	// reservation gives it up, and its holder, woken by the release, takes another (R40).
	if name := ClaimName(netip.PrefixFrom(ip, 32)); ip.IsValid() {
		if holder := r.Alloc.Holder(name); holder != "" && holder != uid {
			if err := r.deleteClaim(ctx, ClaimRef{Name: name, NodeUID: holder}); err != nil {
				return err
			}
		}
	}
	maxPods := int(cfg.MaxPodsFor(node.Labels))
	var held []netip.Addr
	for _, b := range r.Alloc.ClaimsOf(uid)[v1.IPv4] {
		if b.Bits() == 32 && subnet.Contains(b.Addr()) {
			held = append(held, b.Addr())
		}
	}
	if need := maxPods - len(held); need > 0 {
		taken := r.Alloc.ClaimedAddrs(subnet)
		nodes := &corev1.NodeList{}
		if err := r.List(ctx, nodes, client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
		for i := range nodes.Items {
			if a := nodeIP(&nodes.Items[i], v1.IPv4); a.IsValid() {
				taken[a] = true // a node's own address is never a pod's (R40)
			}
		}
		free := nodesubnet.Free(subnet, taken)
		if len(free) < need {
			return r.waitFor(node, desired, &exhaustedError{v1.ReasonSubnetExhausted, fmt.Sprintf(
				"node subnet %s has %d free addresses and this node reserves %d (max pods) up front (R40, R41)", subnet, len(free), need)})
		}
		var fresh []netip.Prefix
		for _, a := range free {
			if len(fresh) == need {
				break
			}
			block := netip.PrefixFrom(a, 32)
			c := newClaim(node, v1.IPv4, block)
			err := r.Create(ctx, c)
			switch {
			case err == nil:
				r.Alloc.ObserveClaim(c)
				fresh = append(fresh, block)
			case apierrors.IsAlreadyExists(err):
				conflicts.Inc() // another manager took it; the next address will do
			default:
				return errors.Join(fmt.Errorf("reserving %s for node %q: %w", a, node.Name, err), r.releaseClaims(ctx, uid, fresh))
			}
		}
		if len(fresh) < need {
			if err := r.releaseClaims(ctx, uid, fresh); err != nil {
				return err
			}
			return r.waitFor(node, desired, &exhaustedError{v1.ReasonSubnetExhausted, fmt.Sprintf(
				"node subnet %s ran out of addresses while reserving %d for this node (R40)", subnet, need)})
		}
		for _, b := range fresh {
			held = append(held, b.Addr())
		}
		allocations.WithLabelValues(string(v1.IPv4)).Add(float64(len(fresh)))
	}
	r.Alloc.Unwait(node.Name)
	desired.PodCIDRs = nil
	desired.ReservedIPs = nodesubnet.Compact(held)
	desired.NodeSubnet = subnet.String()
	msg := fmt.Sprintf("reserves %d addresses of node subnet %s", len(held), subnet)
	if len(cfg.Families) > 1 {
		// Node subnets hand out IPv4 addresses only, as in AKS, where dual-stack needs
		// Overlay or Kubenet.
		msg += "; NodeSubnet pods get IPv4 addresses only, migrate to Overlay for dual-stack pods"
	}
	setAllocated(desired, metav1.ConditionTrue, v1.ReasonAllocated, msg)
	return nil
}

// nodeSubnet returns the subnet a node's pods take addresses from: its pool's subnet, else
// the VNet range holding the node's address.
func nodeSubnet(cfg *netconf.Config, labels map[string]string, ip netip.Addr) netip.Prefix {
	if p := cfg.PoolFor(labels); p != nil && p.Subnet.IsValid() {
		return p.Subnet
	}
	for _, v := range cfg.VNetCIDRs {
		if ip.IsValid() && v.Contains(ip) {
			return v
		}
	}
	return netip.Prefix{}
}
