// Package nodesubnet holds the pure address arithmetic of the legacy node-subnet model
// (R40–R42): which addresses of a node subnet pods may take, and how a node's reserved
// addresses are written down compactly. Standard library only.
package nodesubnet

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
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
	return a.Is4() && a == lastOf(subnet)
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

// Compact writes addresses as few entries as possible: an IPv4 run that is exactly a CIDR
// as the CIDR, any other run of two or more as first-last, a lone address as itself.
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

// runString writes one run of Compact: a lone address as itself, an IPv4 run that is
// exactly one CIDR as the CIDR, any other run as first-last.
func runString(first, last netip.Addr) string {
	if first == last {
		return first.String()
	}
	if ps := (Run{First: first, Last: last}).Prefixes(); first.Is4() && len(ps) == 1 {
		return ps[0].String()
	}
	return fmt.Sprintf("%s-%s", first, last)
}

// Run is a contiguous run of addresses, both ends included.
type Run struct {
	First, Last netip.Addr
}

// Contains reports whether a lies in the run.
func (r Run) Contains(a netip.Addr) bool {
	return a.BitLen() == r.First.BitLen() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// Len returns the number of addresses in the run, saturated at math.MaxInt.
func (r Run) Len() int {
	f, l := r.First.As16(), r.Last.As16()
	hi := binary.BigEndian.Uint64(l[:8]) - binary.BigEndian.Uint64(f[:8])
	lo, borrow := bits.Sub64(binary.BigEndian.Uint64(l[8:]), binary.BigEndian.Uint64(f[8:]), 0)
	hi -= borrow
	if hi != 0 || lo >= math.MaxInt {
		return math.MaxInt
	}
	return int(lo) + 1
}

// Prefixes returns the fewest CIDRs that cover exactly the run, lowest first.
func (r Run) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for a := r.First; ; {
		// The largest aligned prefix starting at a that does not pass Last.
		bits := a.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(a, bits-1)
			if p.Masked().Addr() != a || lastOf(p).Compare(r.Last) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(a, bits)
		out = append(out, p)
		end := lastOf(p)
		if end.Compare(r.Last) >= 0 {
			return out
		}
		a = end.Next()
	}
}

// lastOf returns the last address of p, in either family.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ParseReserved reads the entries Compact writes (a CIDR, a first-last range or a lone
// address) back into runs, sorted and merged where they touch. A malformed entry, an
// inverted range or a mix of families is an error that names the entry.
func ParseReserved(entries []string) ([]Run, error) {
	runs := make([]Run, 0, len(entries))
	for i, e := range entries {
		var r Run
		switch {
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil || p != p.Masked() {
				return nil, fmt.Errorf("reservedIPs[%d]: %q is not a canonical CIDR", i, e)
			}
			r = Run{First: p.Addr(), Last: lastOf(p)}
		case strings.Contains(e, "-"):
			first, last, _ := strings.Cut(e, "-")
			a, err1 := netip.ParseAddr(first)
			b, err2 := netip.ParseAddr(last)
			if err1 != nil || err2 != nil || a.BitLen() != b.BitLen() || a.Compare(b) > 0 {
				return nil, fmt.Errorf("reservedIPs[%d]: %q is not an address, a CIDR or a first-last range of one family", i, e)
			}
			r = Run{First: a, Last: b}
		default:
			a, err := netip.ParseAddr(e)
			if err != nil {
				return nil, fmt.Errorf("reservedIPs[%d]: %q is not an address, a CIDR or a first-last range of one family", i, e)
			}
			r = Run{First: a, Last: a}
		}
		if r.First.Zone() != "" || r.First.Is4In6() {
			return nil, fmt.Errorf("reservedIPs[%d]: %q is not a plain address", i, e)
		}
		if len(runs) > 0 && runs[0].First.BitLen() != r.First.BitLen() {
			return nil, fmt.Errorf("reservedIPs[%d]: %q is of another family than %s", i, e, runs[0].First)
		}
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(a, b Run) int { return a.First.Compare(b.First) })
	out := runs[:0]
	for _, r := range runs {
		if n := len(out); n > 0 {
			prev := &out[n-1]
			if next := prev.Last.Next(); r.First.Compare(next) <= 0 && next.IsValid() {
				if r.Last.Compare(prev.Last) > 0 {
					prev.Last = r.Last
				}
				continue
			}
			if r.First.Compare(prev.Last) <= 0 { // prev ends at the family's last address
				continue
			}
		}
		out = append(out, r)
	}
	return slices.Clip(out), nil
}
