package controller

import (
	"net/netip"
	"strings"
	"testing"
)

func TestNodeAddressProblem(t *testing.T) {
	vnets := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00:1::/64")}
	for _, tc := range []struct {
		name, addr, wantProblem string
	}{
		{"an IPv4 address inside the node network is usable", "10.1.0.4", ""},
		{"an IPv6 address inside the node network is usable", "fd00:1::4", ""},
		{"an address outside the node network is refused", "10.2.0.4", "outside the node network"},
		{"a zoned address is refused", "fe80::1%eth0", "zone"},
		{"a link-local address is refused", "169.254.0.5", "not a global unicast"},
		{"loopback is refused", "127.0.0.1", "not a global unicast"},
		{"the unspecified address is refused", "0.0.0.0", "not a global unicast"},
		{"multicast is refused", "ff02::1", "not a global unicast"},
		{"an IPv4-mapped IPv6 address is refused", "::ffff:10.1.0.4", "IPv4-mapped"},
		{"garbage is refused", "10.1.0.400", "not an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got := nodeAddressProblem(tc.addr, vnets)
			if (got == "") != (tc.wantProblem == "") || !strings.Contains(got, tc.wantProblem) {
				t.Fatalf("nodeAddressProblem(%q) = %q, want %q", tc.addr, got, tc.wantProblem)
			}
		})
	}
}
