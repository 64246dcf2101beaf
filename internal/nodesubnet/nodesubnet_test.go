package nodesubnet

import (
	"net/netip"
	"slices"
	"strings"
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

func TestParseReserved(t *testing.T) {
	a := netip.MustParseAddr
	run := func(first, last string) Run { return Run{First: a(first), Last: a(last)} }
	for _, tt := range []struct {
		name string
		in   []string
		want []Run
	}{
		{"R40 each form Compact writes reads back", []string{"10.1.0.8/30", "10.1.0.20-10.1.0.22", "10.1.0.40"},
			[]Run{run("10.1.0.8", "10.1.0.11"), run("10.1.0.20", "10.1.0.22"), run("10.1.0.40", "10.1.0.40")}},
		{"touching and overlapping entries merge, in address order", []string{"10.1.0.12-10.1.0.13", "10.1.0.8/30", "10.1.0.13"},
			[]Run{run("10.1.0.8", "10.1.0.13")}},
		{"IPv6 runs", []string{"fd00::10-fd00::1f"}, []Run{run("fd00::10", "fd00::1f")}},
		{"nothing reserved", nil, []Run{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReserved(tt.in)
			if err != nil {
				t.Fatalf("ParseReserved(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("ParseReserved(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	for _, bad := range []struct{ in, msg string }{
		{"10.1.0.9/30", `reservedIPs[0]: "10.1.0.9/30" is not a canonical CIDR`},
		{"10.1.0.9-10.1.0.5", `reservedIPs[0]: "10.1.0.9-10.1.0.5" is not an address, a CIDR or a first-last range of one family`},
		{"10.1.0.9-fd00::1", `is not an address, a CIDR or a first-last range of one family`},
		{"node-7", `reservedIPs[0]: "node-7" is not an address, a CIDR or a first-last range`},
	} {
		if _, err := ParseReserved([]string{bad.in}); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("ParseReserved(%q) error = %v, want one containing %q", bad.in, err, bad.msg)
		}
	}
	if _, err := ParseReserved([]string{"10.1.0.9", "fd00::1"}); err == nil || !strings.Contains(err.Error(), "another family") {
		t.Errorf("a mix of families: error = %v, want one naming the other family", err)
	}
}

// TestCompactRoundTrip proves that what Compact writes, ParseReserved reads back into the
// same addresses, and that a run's prefixes cover exactly its addresses.
func TestCompactRoundTrip(t *testing.T) {
	subnet := netip.MustParsePrefix("10.1.0.0/24")
	for seed := range 200 {
		var in []netip.Addr
		for a := subnet.Addr(); subnet.Contains(a); a = a.Next() {
			if (a.As4()[3]*uint8(seed+7)+uint8(seed))%5 < 3 {
				in = append(in, a)
			}
		}
		runs, err := ParseReserved(Compact(in))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		var back, covered []netip.Addr
		for _, r := range runs {
			n := 0
			for a := r.First; a.Compare(r.Last) <= 0 && a.IsValid(); a = a.Next() {
				back = append(back, a)
				n++
			}
			if r.Len() != n {
				t.Fatalf("seed %d: %v Len() = %d, want %d", seed, r, r.Len(), n)
			}
			for _, p := range r.Prefixes() {
				for a := p.Addr(); p.Contains(a); a = a.Next() {
					covered = append(covered, a)
				}
			}
		}
		if !slices.Equal(in, back) {
			t.Fatalf("seed %d: Compact then ParseReserved changed the addresses:\n in  %v\n out %v", seed, in, back)
		}
		if !slices.Equal(in, covered) {
			t.Fatalf("seed %d: the runs' prefixes do not cover exactly the addresses", seed)
		}
	}
}

func TestRunPrefixes(t *testing.T) {
	r := Run{First: netip.MustParseAddr("10.1.0.5"), Last: netip.MustParseAddr("10.1.0.34")}
	want := []string{"10.1.0.5/32", "10.1.0.6/31", "10.1.0.8/29", "10.1.0.16/28", "10.1.0.32/31", "10.1.0.34/32"}
	var got []string
	for _, p := range r.Prefixes() {
		got = append(got, p.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("prefixes of %v (-want +got):\n%s", r, diff)
	}
	if n := r.Len(); n != 30 {
		t.Errorf("Len = %d, want 30", n)
	}
	all := Run{First: netip.MustParseAddr("::"), Last: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}
	if p := all.Prefixes(); len(p) != 1 || p[0].Bits() != 0 {
		t.Errorf("the whole IPv6 space is ::/0, got %v", p)
	}
}
