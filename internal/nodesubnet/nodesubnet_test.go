package nodesubnet

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCloudReserved(t *testing.T) {
	subnet := netip.MustParsePrefix("10.1.0.0/24")
	for _, tt := range []struct {
		name string
		addr string
		want bool
	}{
		{"R40 the network address is the cloud's", "10.1.0.0", true},
		{"R40 the first host is the cloud's", "10.1.0.1", true},
		{"R40 the third host is the cloud's", "10.1.0.3", true},
		{"R40 the fourth host is usable", "10.1.0.4", false},
		{"R40 the last host is usable", "10.1.0.254", false},
		{"R40 the broadcast address is the cloud's", "10.1.0.255", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := CloudReserved(subnet, netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("CloudReserved(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestFree(t *testing.T) {
	subnet := netip.MustParsePrefix("10.1.0.0/24")
	if got := len(Free(subnet, nil)); got != 251 {
		t.Errorf("R14 a /24 has %d usable addresses, want 251", got)
	}
	taken := map[netip.Addr]bool{netip.MustParseAddr("10.1.0.4"): true, netip.MustParseAddr("10.1.0.6"): true}
	got := Free(subnet, taken)[:3]
	want := []netip.Addr{netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("10.1.0.7"), netip.MustParseAddr("10.1.0.8")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("Free skips taken addresses (-want +got):\n%s", diff)
	}
}

func TestCompact(t *testing.T) {
	a := netip.MustParseAddr
	for _, tt := range []struct {
		name string
		in   []netip.Addr
		want []string
	}{
		{"a lone address stays itself", []netip.Addr{a("10.1.0.9")}, []string{"10.1.0.9"}},
		{"an aligned run becomes its CIDR", []netip.Addr{a("10.1.0.8"), a("10.1.0.9"), a("10.1.0.10"), a("10.1.0.11")}, []string{"10.1.0.8/30"}},
		{"an unaligned run becomes first-last", []netip.Addr{a("10.1.0.5"), a("10.1.0.6"), a("10.1.0.7")}, []string{"10.1.0.5-10.1.0.7"}},
		{"a gap splits runs, in order", []netip.Addr{a("10.1.0.20"), a("10.1.0.5"), a("10.1.0.6")}, []string{"10.1.0.5-10.1.0.6", "10.1.0.20"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Compact(tt.in)); diff != "" {
				t.Errorf("Compact (-want +got):\n%s", diff)
			}
		})
	}
}
