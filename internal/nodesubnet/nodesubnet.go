// Package nodesubnet holds the pure address arithmetic of the legacy node-subnet model
// (R40–R42): which addresses of a node subnet pods may take, and how a node's reserved
// addresses are written down compactly. Standard library only.
package nodesubnet

import (
	"fmt"
	"net/netip"
	"slices"
)

// CloudReserved reports whether the cloud keeps a for itself: the network address, the
// first three hosts and the broadcast address of an IPv4 subnet (R14, R40).
func CloudReserved(subnet netip.Prefix, a netip.Addr) bool {
	first := subnet.Masked().Addr()
	if a == first {
		return true
	}
	x := first
	for range 3 {
		x = x.Next()
		if a == x {
			return true
		}
	}
	return a.Is4() && a == last(subnet)
}

func last(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Free returns, lowest first, the addresses of subnet that pods may take: neither reserved
// by the cloud nor in taken (node addresses and other nodes' reservations).
func Free(subnet netip.Prefix, taken map[netip.Addr]bool) []netip.Addr {
	var out []netip.Addr
	for a := subnet.Masked().Addr(); subnet.Contains(a); a = a.Next() {
		if !CloudReserved(subnet, a) && !taken[a] {
			out = append(out, a)
		}
	}
	return out
}

// Compact writes addresses as few entries as possible: a run that is exactly a CIDR as the
// CIDR, any other run of two or more as first-last, a lone address as itself.
func Compact(addrs []netip.Addr) []string {
	s := slices.Clone(addrs)
	slices.SortFunc(s, func(a, b netip.Addr) int { return a.Compare(b) })
	s = slices.Compact(s)
	var out []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j].Next() == s[j+1] {
			j++
		}
		out = append(out, runString(s[i], s[j]))
		i = j + 1
	}
	return out
}

func runString(first, lastAddr netip.Addr) string {
	if first == lastAddr {
		return first.String()
	}
	for bits := first.BitLen(); bits >= 0; bits-- {
		p := netip.PrefixFrom(first, bits)
		if p.Masked().Addr() != first {
			break
		}
		if p.Bits() < first.BitLen() && last(p) == lastAddr && first.Is4() {
			return p.String()
		}
	}
	return fmt.Sprintf("%s-%s", first, lastAddr)
}
