package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/allocation"
	"github.com/overlaynet/overlaynet/internal/ipam"
	"github.com/overlaynet/overlaynet/internal/netconf"
	"github.com/overlaynet/overlaynet/internal/nodesubnet"
)

// reserveAddresses gives a NodeSubnet node maxPods addresses of its node subnet up front
// (R40), all or nothing. Each address is claimed with its own /32 BlockClaim, so the API
// server keeps two nodes from holding one address exactly as it does for blocks (B4).
// The addresses come from the allocation state's pool of the subnet, so the work is
// proportional to the addresses reserved, whatever the size of the subnet (R43 bounds the
// size anyway). Reservations of one process are serialised (subnetMu): concurrent nodes
// would otherwise take turns at the same addresses and all fall short near the end of a
// subnet.
func (r *NodeReconciler) reserveAddresses(ctx context.Context, s *nodeScope) error {
	r.subnetMu.Lock()
	defer r.subnetMu.Unlock()
	node, cfg := s.node, s.cfg
	uid := string(node.UID)
	ip := s.ips[v1.IPv4]
	subnet := nodeSubnet(cfg, node.Labels, ip)
	if !subnet.IsValid() {
		return r.waitFor(s, &exhaustedError{v1.ReasonSubnetExhausted, fmt.Sprintf(
			"the node's IPv4 address %v lies in no IPv4 node subnet (spec.nodePools[].subnetCIDR or spec.vnetCIDRs): it cannot reserve pod addresses (R40, R43)", ip)})
	}
	// A node can register with an address the controller had reserved for another node's
	// pods (the cloud assigns node addresses, not us). The node's own address wins: the
	// reservation gives it up, and its holder, woken by the release, takes another (R40).
	if holder, ok := r.Alloc.Holder(allocation.ClaimName(netip.PrefixFrom(ip, 32))); ok && holder.NodeUID != uid {
		if err := r.deleteClaim(ctx, holder); err != nil {
			return err
		}
	}
	maxPods := int(cfg.MaxPodsFor(node.Labels))
	var held []netip.Addr
	for _, b := range r.Alloc.ClaimsOf(node.Name, uid)[v1.IPv4] {
		if b.Bits() == 32 && subnet.Contains(b.Addr()) {
			held = append(held, b.Addr())
		}
	}
	isNodeIP := func(a netip.Addr) bool {
		owner, err := firstHolder(ctx, r.Client, a)
		return err != nil || owner != "" // a node's own address is never a pod's (R40)
	}
	if need := maxPods - len(held); need > 0 {
		var fresh []netip.Prefix
		for len(fresh) < need {
			a, err := r.Alloc.ReserveAddr(subnet, isNodeIP)
			if errors.Is(err, ipam.ErrExhausted) {
				if err := r.releaseClaims(ctx, uid, fresh); err != nil {
					return err
				}
				return r.waitFor(s, &exhaustedError{v1.ReasonSubnetExhausted, fmt.Sprintf(
					"node subnet %s has %d free addresses and this node reserves %d (max pods) up front (R40, R41)", subnet, len(fresh), need)})
			}
			if err != nil {
				return errors.Join(err, r.releaseClaims(ctx, uid, fresh))
			}
			block := netip.PrefixFrom(a, 32)
			c := newClaim(node, v1.IPv4, block)
			err = r.Create(ctx, c)
			switch {
			case err == nil:
				_ = r.Alloc.ObserveClaim(c)
				fresh = append(fresh, block)
			case apierrors.IsAlreadyExists(err):
				conflicts.Inc() // another manager took it; it stays taken here, the next will do
			default:
				r.Alloc.Unreserve(block)
				return errors.Join(fmt.Errorf("reserving %s for node %q: %w", a, node.Name, err), r.releaseClaims(ctx, uid, fresh))
			}
		}
		for _, b := range fresh {
			held = append(held, b.Addr())
		}
		allocations.WithLabelValues(string(v1.IPv4)).Add(float64(len(fresh)))
	}
	r.Alloc.Unwait(node.Name)
	s.desired.PodCIDRs = nil
	s.desired.ReservedIPs = nodesubnet.Compact(held)
	s.desired.NodeSubnet = subnet.String()
	if len(cfg.Families) > 1 {
		// Node subnets hand out IPv4 addresses only, as in AKS, where dual-stack needs
		// Overlay or Kubenet.
		s.note = "NodeSubnet pods get IPv4 addresses only, migrate to Overlay for dual-stack pods"
	}
	s.allocated(fmt.Sprintf("reserves %d addresses of node subnet %s", len(held), subnet))
	return nil
}

// nodeSubnet returns the IPv4 subnet a node's pods take addresses from: its pool's subnet,
// else the VNet range holding the node's address.
func nodeSubnet(cfg *netconf.Config, labels map[string]string, ip netip.Addr) netip.Prefix {
	if p := cfg.PoolFor(labels); p != nil && p.Subnet.IsValid() {
		if p.Subnet.Addr().Is4() {
			return p.Subnet
		}
		return netip.Prefix{}
	}
	for _, v := range cfg.VNetCIDRs {
		if ip.IsValid() && v.Addr().Is4() && v.Contains(ip) {
			return v
		}
	}
	return netip.Prefix{}
}
