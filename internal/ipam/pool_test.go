/*
Copyright 2026 The overlaynet Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package ipam

import (
	"errors"
	"math/big"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// pfx parses a prefix as written, without masking, so tests can pass non-canonical ones.
func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// pfxs parses a list of prefixes.
func pfxs(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = pfx(s)
	}
	return out
}

// setup describes a pool and the calls that bring it to the state a case starts from.
type setup struct {
	// cidrs, blockBits and exclusions are passed to NewPool.
	cidrs      []string
	blockBits  int
	exclusions []string
	// allocate is the number of AllocateNext calls made first.
	allocate int
	// occupy lists blocks passed to Occupy after the allocations.
	occupy []string
	// release lists blocks passed to Release last.
	release []string
}

// build returns the pool described by s, failing the test on any error.
func build(t testing.TB, s setup) *Pool {
	t.Helper()
	p, err := NewPool("pods", pfxs(s.cidrs...), s.blockBits, pfxs(s.exclusions...))
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	for range s.allocate {
		if _, err := p.AllocateNext(); err != nil {
			t.Fatalf("setup AllocateNext: %v", err)
		}
	}
	for _, b := range s.occupy {
		if err := p.Occupy(pfx(b)); err != nil {
			t.Fatalf("setup Occupy: %v", err)
		}
	}
	for _, b := range s.release {
		if err := p.Release(pfx(b)); err != nil {
			t.Fatalf("setup Release: %v", err)
		}
	}
	mustCheck(t, p)
	return p
}

// mustCheck fails the test if the pool's internal invariants do not hold.
func mustCheck(t testing.TB, p *Pool) {
	t.Helper()
	if err := p.check(); err != nil {
		t.Fatalf("pool invariants: %v", err)
	}
}

// usage renders a Usage as decimal strings: total, allocated, free.
func usage(u Usage) [3]string {
	return [3]string{u.Total.String(), u.Allocated.String(), u.Free.String()}
}

// checkErr reports whether err matches want: nil for nil, errors.Is otherwise.
func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// pow2 returns 2^n in decimal.
func pow2(n uint) string { return new(big.Int).Lsh(big.NewInt(1), n).String() }

func TestFamilyString(t *testing.T) {
	tests := map[string]struct {
		family Family
		want   string
	}{
		"IPv4 is spelled as in ipFamilies": {family: FamilyIPv4, want: "IPv4"},
		"IPv6 is spelled as in ipFamilies": {family: FamilyIPv6, want: "IPv6"},
		"zero value is not a family":       {family: 0, want: "Family(0)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.family.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewPool(t *testing.T) {
	tests := map[string]struct {
		cidrs      []netip.Prefix
		blockBits  int
		exclusions []netip.Prefix
		wantErr    error
		wantFamily Family
		wantUsage  [3]string
	}{
		"R10 IPv4 pod CIDR /16 cut into /24s holds 256 blocks": {
			cidrs: pfxs("10.244.0.0/16"), blockBits: 24,
			wantFamily: FamilyIPv4, wantUsage: [3]string{"256", "0", "256"},
		},
		"R11 IPv6 pod CIDR /64 cut into /120s holds 2^56 blocks": {
			cidrs: pfxs("fd12:3456:789a::/64"), blockBits: 120,
			wantFamily: FamilyIPv6, wantUsage: [3]string{pow2(56), "0", pow2(56)},
		},
		"R34 IPv6 pod CIDR /64 cut into /80s holds 2^16 blocks": {
			cidrs: pfxs("fd12:3456:789a::/64"), blockBits: 80,
			wantFamily: FamilyIPv6, wantUsage: [3]string{"65536", "0", "65536"},
		},
		"B2 block as large as the CIDR gives one block": {
			cidrs: pfxs("10.0.0.0/24"), blockBits: 24,
			wantFamily: FamilyIPv4, wantUsage: [3]string{"1", "0", "1"},
		},
		"B2 /32 blocks are accepted": {
			cidrs: pfxs("10.0.0.0/30"), blockBits: 32,
			wantFamily: FamilyIPv4, wantUsage: [3]string{"4", "0", "4"},
		},
		"B2 whole IPv4 space as one /0 block": {
			cidrs: pfxs("0.0.0.0/0"), blockBits: 0,
			wantFamily: FamilyIPv4, wantUsage: [3]string{"1", "0", "1"},
		},
		"whole IPv6 space cut into /128s holds 2^128 blocks": {
			cidrs: pfxs("::/0"), blockBits: 128,
			wantFamily: FamilyIPv6, wantUsage: [3]string{pow2(128), "0", pow2(128)},
		},
		"several CIDRs add up": {
			cidrs: pfxs("10.0.0.0/16", "10.2.0.0/23"), blockBits: 24,
			wantFamily: FamilyIPv4, wantUsage: [3]string{"258", "0", "258"},
		},
		"exclusion outside every CIDR is accepted and changes nothing": {
			cidrs: pfxs("10.244.0.0/16"), blockBits: 24, exclusions: pfxs("10.0.0.0/16"),
			wantFamily: FamilyIPv4, wantUsage: [3]string{"256", "0", "256"},
		},
		"overlapping exclusions count each excluded block once": {
			cidrs: pfxs("10.0.0.0/16"), blockBits: 24,
			exclusions: pfxs("10.0.0.0/23", "10.0.1.0/24", "10.0.1.5/32", "10.0.9.128/25"),
			wantFamily: FamilyIPv4, wantUsage: [3]string{"253", "0", "253"},
		},
		"no CIDR is rejected": {
			blockBits: 24, wantErr: ErrInvalidCIDR,
		},
		"zero prefix is rejected": {
			cidrs: []netip.Prefix{{}}, blockBits: 24, wantErr: ErrInvalidCIDR,
		},
		"non-canonical CIDR is rejected": {
			cidrs: pfxs("10.244.1.0/16"), blockBits: 24, wantErr: ErrInvalidCIDR,
		},
		"non-canonical second CIDR is rejected": {
			cidrs: pfxs("10.244.0.0/16", "10.245.0.1/16"), blockBits: 24, wantErr: ErrInvalidCIDR,
		},
		"IPv4-mapped IPv6 CIDR is rejected": {
			cidrs: pfxs("::ffff:10.0.0.0/104"), blockBits: 120, wantErr: ErrInvalidCIDR,
		},
		"CIDRs of two families are rejected": {
			cidrs: pfxs("10.244.0.0/16", "fd12:3456:789a::/64"), blockBits: 24, wantErr: ErrFamily,
		},
		"overlapping CIDRs are rejected": {
			cidrs: pfxs("10.0.0.0/16", "10.0.128.0/17"), blockBits: 24, wantErr: ErrOverlap,
		},
		"the same CIDR twice is rejected": {
			cidrs: pfxs("10.0.0.0/16", "10.0.0.0/16"), blockBits: 24, wantErr: ErrOverlap,
		},
		"B2 block larger than the CIDR is rejected": {
			cidrs: pfxs("10.0.0.0/24"), blockBits: 16, wantErr: ErrInvalidBlock,
		},
		"B2 block larger than the second CIDR is rejected": {
			cidrs: pfxs("10.0.0.0/16", "10.1.0.0/25"), blockBits: 24, wantErr: ErrInvalidBlock,
		},
		"B2 IPv4 block longer than 32 bits is rejected": {
			cidrs: pfxs("10.0.0.0/16"), blockBits: 33, wantErr: ErrInvalidBlock,
		},
		"B2 IPv6 block longer than 128 bits is rejected": {
			cidrs: pfxs("fd00::/64"), blockBits: 129, wantErr: ErrInvalidBlock,
		},
		"B2 negative block size is rejected": {
			cidrs: pfxs("10.0.0.0/16"), blockBits: -1, wantErr: ErrInvalidBlock,
		},
		"exclusion of the other family is rejected": {
			cidrs: pfxs("10.0.0.0/16"), blockBits: 24, exclusions: pfxs("fd00::/108"), wantErr: ErrFamily,
		},
		"non-canonical exclusion is rejected": {
			cidrs: pfxs("10.0.0.0/16"), blockBits: 24, exclusions: pfxs("10.0.0.10/16"), wantErr: ErrInvalidCIDR,
		},
		"zero exclusion is rejected": {
			cidrs: pfxs("10.0.0.0/16"), blockBits: 24, exclusions: []netip.Prefix{{}}, wantErr: ErrInvalidCIDR,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := NewPool("pods", tc.cidrs, tc.blockBits, tc.exclusions)
			checkErr(t, "NewPool", err, tc.wantErr)
			if tc.wantErr != nil {
				if p != nil {
					t.Errorf("NewPool returned a pool with error %v", err)
				}
				return
			}
			mustCheck(t, p)
			if p.Name() != "pods" || p.Family() != tc.wantFamily || p.BlockBits() != tc.blockBits {
				t.Errorf("Name, Family, BlockBits = %q, %v, %d; want %q, %v, %d",
					p.Name(), p.Family(), p.BlockBits(), "pods", tc.wantFamily, tc.blockBits)
			}
			if got := p.CIDRs(); !reflect.DeepEqual(got, tc.cidrs) {
				t.Errorf("CIDRs() = %v, want %v", got, tc.cidrs)
			}
			if got := usage(p.Usage()); got != tc.wantUsage {
				t.Errorf("Usage() = %v, want %v", got, tc.wantUsage)
			}
		})
	}
}

func TestNewPoolCopiesItsInputs(t *testing.T) {
	cidrs := pfxs("10.0.0.0/24")
	excl := pfxs("10.0.0.0/25")
	p, err := NewPool("pods", cidrs, 24, excl)
	if err != nil {
		t.Fatal(err)
	}
	cidrs[0], excl[0] = pfx("10.9.0.0/24"), pfx("10.9.0.0/25")
	got := p.CIDRs()
	got[0] = pfx("10.8.0.0/24")
	if want := pfxs("10.0.0.0/24"); !reflect.DeepEqual(p.CIDRs(), want) {
		t.Errorf("CIDRs() = %v after the caller changed its slices, want %v", p.CIDRs(), want)
	}
	if err := p.AddCIDR(pfx("10.9.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if b, err := p.AllocateNext(); err != nil || b != pfx("10.9.0.0/24") {
		t.Errorf("AllocateNext() = %v, %v; want 10.9.0.0/24 (the caller's later exclusion must not apply)", b, err)
	}
}

func TestAllocateNext(t *testing.T) {
	tests := map[string]struct {
		pool setup
		// want lists the blocks the next AllocateNext calls must return, in order.
		want []string
		// wantErr is the error of the call after those, if one is made.
		wantErr error
	}{
		"R10 first /24 of a /16 pod CIDR is its lowest block": {
			pool: setup{cidrs: []string{"10.244.0.0/16"}, blockBits: 24},
			want: []string{"10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"},
		},
		"R10 last /24 of a /16 is handed out, then ErrExhausted": {
			pool:    setup{cidrs: []string{"10.244.0.0/16"}, blockBits: 24, allocate: 255},
			want:    []string{"10.244.255.0/24"},
			wantErr: ErrExhausted,
		},
		"exhausted /24 pool returns ErrExhausted": {
			pool:    setup{cidrs: []string{"10.0.0.0/24"}, blockBits: 24},
			want:    []string{"10.0.0.0/24"},
			wantErr: ErrExhausted,
		},
		"R10 /8 cut into /24s hands out 65,536 blocks, the last 10.255.255.0/24": {
			pool:    setup{cidrs: []string{"10.0.0.0/8"}, blockBits: 24, allocate: 65535},
			want:    []string{"10.255.255.0/24"},
			wantErr: ErrExhausted,
		},
		"R11 IPv6 /64 is cut into /120s from its lowest address": {
			pool: setup{cidrs: []string{"fd12:3456:789a::/64"}, blockBits: 120},
			want: []string{"fd12:3456:789a::/120", "fd12:3456:789a::100/120", "fd12:3456:789a::200/120"},
		},
		"R34 IPv6 /64 pod CIDR gives /80 blocks, 16 bits longer": {
			pool: setup{cidrs: []string{"fd12:3456:789a::/64"}, blockBits: 80},
			want: []string{"fd12:3456:789a::/80", "fd12:3456:789a:0:1::/80", "fd12:3456:789a:0:2::/80"},
		},
		"R34 last /80 of a /64 is handed out, then ErrExhausted": {
			pool:    setup{cidrs: []string{"fd12:3456:789a::/64"}, blockBits: 80, allocate: 65535},
			want:    []string{"fd12:3456:789a:0:ffff::/80"},
			wantErr: ErrExhausted,
		},
		"IPv6 /8 cut into /120s starts at its lowest block": {
			pool: setup{cidrs: []string{"fd00::/8"}, blockBits: 120},
			want: []string{"fd00::/120", "fd00::100/120"},
		},
		"B2 /26 blocks from a /24 give four blocks": {
			pool:    setup{cidrs: []string{"10.0.0.0/24"}, blockBits: 26},
			want:    []string{"10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26"},
			wantErr: ErrExhausted,
		},
		"B2 /32 blocks from a /31": {
			pool:    setup{cidrs: []string{"10.0.0.0/31"}, blockBits: 32},
			want:    []string{"10.0.0.0/32", "10.0.0.1/32"},
			wantErr: ErrExhausted,
		},
		"B2 whole IPv4 space as one block": {
			pool:    setup{cidrs: []string{"0.0.0.0/0"}, blockBits: 0},
			want:    []string{"0.0.0.0/0"},
			wantErr: ErrExhausted,
		},
		"exclusion at the start of the CIDR is skipped": {
			pool:    setup{cidrs: []string{"10.0.0.0/22"}, blockBits: 24, exclusions: []string{"10.0.0.0/24"}},
			want:    []string{"10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"},
			wantErr: ErrExhausted,
		},
		"exclusion in the middle of the CIDR is skipped": {
			pool:    setup{cidrs: []string{"10.0.0.0/22"}, blockBits: 24, exclusions: []string{"10.0.1.0/24"}},
			want:    []string{"10.0.0.0/24", "10.0.2.0/24", "10.0.3.0/24"},
			wantErr: ErrExhausted,
		},
		"exclusion at the end of the CIDR is skipped": {
			pool:    setup{cidrs: []string{"10.0.0.0/22"}, blockBits: 24, exclusions: []string{"10.0.3.0/24"}},
			want:    []string{"10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"},
			wantErr: ErrExhausted,
		},
		"exclusion smaller than a block takes the whole block out": {
			pool:    setup{cidrs: []string{"10.0.0.0/22"}, blockBits: 24, exclusions: []string{"10.0.1.10/32"}},
			want:    []string{"10.0.0.0/24", "10.0.2.0/24", "10.0.3.0/24"},
			wantErr: ErrExhausted,
		},
		"exclusion covering the whole CIDR leaves nothing to allocate": {
			pool:    setup{cidrs: []string{"10.0.0.0/22"}, blockBits: 24, exclusions: []string{"10.0.0.0/16"}},
			wantErr: ErrExhausted,
		},
		"exclusion covering the first CIDR falls through to the second": {
			pool: setup{
				cidrs: []string{"10.0.0.0/23", "10.1.0.0/23"}, blockBits: 24, exclusions: []string{"10.0.0.0/23"},
			},
			want:    []string{"10.1.0.0/24", "10.1.1.0/24"},
			wantErr: ErrExhausted,
		},
		"several exclusions, overlapping and adjacent, are all skipped": {
			pool: setup{
				cidrs: []string{"10.0.0.0/21"}, blockBits: 24,
				exclusions: []string{"10.0.1.0/24", "10.0.2.0/23", "10.0.2.128/25", "10.0.6.255/32"},
			},
			want:    []string{"10.0.0.0/24", "10.0.4.0/24", "10.0.5.0/24", "10.0.7.0/24"},
			wantErr: ErrExhausted,
		},
		"IPv6 service-range exclusion inside the pod CIDR is skipped": {
			pool: setup{cidrs: []string{"fd12:3456:789a::/64"}, blockBits: 120, exclusions: []string{"fd12:3456:789a::/119"}},
			want: []string{"fd12:3456:789a::200/120"},
		},
		"occupied blocks are skipped": {
			pool:    setup{cidrs: []string{"10.0.0.0/22"}, blockBits: 24, occupy: []string{"10.0.0.0/24", "10.0.2.0/24"}},
			want:    []string{"10.0.1.0/24", "10.0.3.0/24"},
			wantErr: ErrExhausted,
		},
		"B4 a released block is handed out again before higher free blocks, and only once": {
			pool: setup{
				cidrs: []string{"10.0.0.0/22"}, blockBits: 24, allocate: 3, release: []string{"10.0.1.0/24"},
			},
			want:    []string{"10.0.1.0/24", "10.0.3.0/24"},
			wantErr: ErrExhausted,
		},
		"releases in any order are handed out lowest first": {
			pool: setup{
				cidrs: []string{"10.0.0.0/22"}, blockBits: 24, allocate: 4,
				release: []string{"10.0.3.0/24", "10.0.0.0/24", "10.0.2.0/24"},
			},
			want:    []string{"10.0.0.0/24", "10.0.2.0/24", "10.0.3.0/24"},
			wantErr: ErrExhausted,
		},
		"pool order wins over address order": {
			pool:    setup{cidrs: []string{"10.1.0.0/24", "10.0.0.0/24"}, blockBits: 25},
			want:    []string{"10.1.0.0/25", "10.1.0.128/25", "10.0.0.0/25", "10.0.0.128/25"},
			wantErr: ErrExhausted,
		},
		"a block released in the first CIDR comes before the second CIDR": {
			pool: setup{
				cidrs: []string{"10.0.0.0/24", "10.1.0.0/24"}, blockBits: 25, allocate: 3,
				release: []string{"10.0.0.128/25"},
			},
			want:    []string{"10.0.0.128/25", "10.1.0.128/25"},
			wantErr: ErrExhausted,
		},
		"highest IPv6 /128 block is handed out after its neighbour is occupied": {
			pool: setup{
				cidrs: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126"}, blockBits: 128,
				occupy: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128"},
			},
			want: []string{
				"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd/128",
				"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
			},
			wantErr: ErrExhausted,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := build(t, tc.pool)
			for i, w := range tc.want {
				got, err := p.AllocateNext()
				if err != nil {
					t.Fatalf("AllocateNext #%d: %v, want %s", i+1, err, w)
				}
				if got != pfx(w) {
					t.Fatalf("AllocateNext #%d = %s, want %s", i+1, got, w)
				}
				if !p.IsAllocated(got) {
					t.Fatalf("IsAllocated(%s) = false right after AllocateNext", got)
				}
			}
			if tc.wantErr != nil {
				before := usage(p.Usage())
				got, err := p.AllocateNext()
				checkErr(t, "last AllocateNext", err, tc.wantErr)
				if got.IsValid() {
					t.Errorf("AllocateNext returned %s with error %v", got, err)
				}
				if after := usage(p.Usage()); after != before {
					t.Errorf("Usage changed by a failed AllocateNext: %v, want %v", after, before)
				}
			}
			mustCheck(t, p)
		})
	}
}

func TestOccupy(t *testing.T) {
	base := setup{cidrs: []string{"10.244.0.0/16", "10.250.0.0/23"}, blockBits: 24, exclusions: []string{"10.244.9.0/24"}}
	withTaken := base
	withTaken.occupy = []string{"10.244.7.0/24"}
	tests := map[string]struct {
		pool    setup
		block   netip.Prefix
		wantErr error
	}{
		"first block of the first CIDR is occupied": {pool: base, block: pfx("10.244.0.0/24")},
		"last block of the first CIDR is occupied":  {pool: base, block: pfx("10.244.255.0/24")},
		"block of the second CIDR is occupied":      {pool: base, block: pfx("10.250.1.0/24")},
		"B4 block already occupied returns ErrInUse": {
			pool: withTaken, block: pfx("10.244.7.0/24"), wantErr: ErrInUse,
		},
		"B4 block already allocated returns ErrInUse": {
			pool:  setup{cidrs: base.cidrs, blockBits: 24, allocate: 1},
			block: pfx("10.244.0.0/24"), wantErr: ErrInUse,
		},
		"excluded block returns ErrExcluded": {pool: base, block: pfx("10.244.9.0/24"), wantErr: ErrExcluded},
		"block outside every CIDR returns ErrOutOfRange": {
			pool: base, block: pfx("10.245.0.0/24"), wantErr: ErrOutOfRange,
		},
		"block just past the second CIDR returns ErrOutOfRange": {
			pool: base, block: pfx("10.250.2.0/24"), wantErr: ErrOutOfRange,
		},
		"B2 block of the wrong size returns ErrInvalidBlock": {
			pool: base, block: pfx("10.244.0.0/25"), wantErr: ErrInvalidBlock,
		},
		"unaligned block returns ErrInvalidBlock": {
			pool: base, block: pfx("10.244.0.1/24"), wantErr: ErrInvalidBlock,
		},
		"zero prefix returns ErrInvalidBlock": {pool: base, block: netip.Prefix{}, wantErr: ErrInvalidBlock},
		"IPv4-mapped IPv6 block returns ErrInvalidBlock": {
			pool: base, block: pfx("::ffff:10.244.0.0/120"), wantErr: ErrInvalidBlock,
		},
		"IPv6 block in an IPv4 pool returns ErrFamily": {
			pool: base, block: pfx("fd00::/24"), wantErr: ErrFamily,
		},
		"R11 IPv6 block beyond the 2^64th of a /8 is occupied": {
			pool:  setup{cidrs: []string{"fd00::/8"}, blockBits: 120},
			block: pfx("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"),
		},
		"highest /128 of the IPv6 space is occupied": {
			pool:  setup{cidrs: []string{"::/0"}, blockBits: 128},
			block: pfx("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"),
		},
		"lowest /128 of the IPv6 space is occupied": {
			pool:  setup{cidrs: []string{"::/0"}, blockBits: 128},
			block: pfx("::/128"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := build(t, tc.pool)
			before := usage(p.Usage())
			wasAllocated := p.IsAllocated(tc.block)
			err := p.Occupy(tc.block)
			checkErr(t, "Occupy", err, tc.wantErr)
			mustCheck(t, p)
			after := usage(p.Usage())
			if tc.wantErr != nil {
				if after != before || p.IsAllocated(tc.block) != wasAllocated {
					t.Errorf("failed Occupy changed the pool: usage %v -> %v", before, after)
				}
				return
			}
			if !p.IsAllocated(tc.block) {
				t.Errorf("IsAllocated(%s) = false after Occupy", tc.block)
			}
			prev, _ := new(big.Int).SetString(before[1], 10)
			if want := prev.Add(prev, big.NewInt(1)).String(); after[1] != want {
				t.Errorf("Allocated %s -> %s, want %s", before[1], after[1], want)
			}
			if err := p.Occupy(tc.block); !errors.Is(err, ErrInUse) {
				t.Errorf("second Occupy(%s) = %v, want ErrInUse (B4)", tc.block, err)
			}
			if err := p.Release(tc.block); err != nil {
				t.Errorf("Release after Occupy: %v", err)
			}
			mustCheck(t, p)
			if got := usage(p.Usage()); got != before {
				t.Errorf("Occupy then Release left usage %v, want %v", got, before)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	base := setup{
		cidrs: []string{"10.244.0.0/16"}, blockBits: 24, exclusions: []string{"10.244.9.0/24"},
		allocate: 3, occupy: []string{"10.244.200.0/24"},
	}
	tests := map[string]struct {
		pool  setup
		block netip.Prefix
		// wantErr is nil or the specific sentinel; every failure must also wrap
		// ErrNotAllocated.
		wantErr error
		// wantNext is the block AllocateNext returns after the Release.
		wantNext string
	}{
		"allocated block is released and handed out next":    {pool: base, block: pfx("10.244.1.0/24"), wantNext: "10.244.1.0/24"},
		"occupied high block is released":                    {pool: base, block: pfx("10.244.200.0/24"), wantNext: "10.244.3.0/24"},
		"first block is released and handed out next":        {pool: base, block: pfx("10.244.0.0/24"), wantNext: "10.244.0.0/24"},
		"block never allocated returns ErrNotAllocated":      {pool: base, block: pfx("10.244.5.0/24"), wantErr: ErrNotAllocated},
		"block released twice returns ErrNotAllocated":       {pool: setup{cidrs: base.cidrs, blockBits: 24, allocate: 2, release: []string{"10.244.1.0/24"}}, block: pfx("10.244.1.0/24"), wantErr: ErrNotAllocated},
		"excluded block returns ErrExcluded":                 {pool: base, block: pfx("10.244.9.0/24"), wantErr: ErrExcluded},
		"block outside the pool returns ErrOutOfRange":       {pool: base, block: pfx("10.245.0.0/24"), wantErr: ErrOutOfRange},
		"block of the wrong size returns ErrInvalidBlock":    {pool: base, block: pfx("10.244.0.0/23"), wantErr: ErrInvalidBlock},
		"block of the other family returns ErrFamily":        {pool: base, block: pfx("fd00::/24"), wantErr: ErrFamily},
		"highest /128 of the IPv6 space is released, merged": {pool: setup{cidrs: []string{"::/0"}, blockBits: 128, occupy: []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128"}}, block: pfx("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), wantNext: "::/128"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := build(t, tc.pool)
			before := usage(p.Usage())
			err := p.Release(tc.block)
			checkErr(t, "Release", err, tc.wantErr)
			if err != nil && !errors.Is(err, ErrNotAllocated) {
				t.Errorf("Release error %v does not wrap ErrNotAllocated", err)
			}
			mustCheck(t, p)
			if tc.wantErr != nil {
				if after := usage(p.Usage()); after != before {
					t.Errorf("failed Release changed usage %v -> %v", before, after)
				}
				return
			}
			if p.IsAllocated(tc.block) {
				t.Errorf("IsAllocated(%s) = true after Release", tc.block)
			}
			if got, err := p.AllocateNext(); err != nil || got != pfx(tc.wantNext) {
				t.Errorf("AllocateNext after Release = %v, %v; want %s", got, err, tc.wantNext)
			}
			mustCheck(t, p)
		})
	}
}

func TestIsAllocatedAndContains(t *testing.T) {
	p := build(t, setup{
		cidrs: []string{"10.244.0.0/16"}, blockBits: 24,
		exclusions: []string{"10.244.9.0/24"}, allocate: 2,
	})
	tests := map[string]struct {
		block         netip.Prefix
		wantAllocated bool
		wantContains  bool
	}{
		"allocated block": {block: pfx("10.244.1.0/24"), wantAllocated: true, wantContains: true},
		"free block":      {block: pfx("10.244.2.0/24"), wantContains: true},
		"excluded block is contained, not allocated": {block: pfx("10.244.9.0/24"), wantContains: true},
		"last block":    {block: pfx("10.244.255.0/24"), wantContains: true},
		"block outside": {block: pfx("10.245.0.0/24")},
		"wrong size":    {block: pfx("10.244.0.0/25")},
		"unaligned":     {block: pfx("10.244.1.1/24")},
		"other family":  {block: pfx("fd00::/24")},
		"zero prefix":   {block: netip.Prefix{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := p.IsAllocated(tc.block); got != tc.wantAllocated {
				t.Errorf("IsAllocated(%s) = %v, want %v", tc.block, got, tc.wantAllocated)
			}
			if got := p.Contains(tc.block); got != tc.wantContains {
				t.Errorf("Contains(%s) = %v, want %v", tc.block, got, tc.wantContains)
			}
		})
	}
}

func TestAddCIDR(t *testing.T) {
	full := setup{cidrs: []string{"10.0.0.0/23"}, blockBits: 24, exclusions: []string{"10.1.0.0/24"}, allocate: 2}
	tests := map[string]struct {
		pool      setup
		cidr      netip.Prefix
		wantErr   error
		wantCIDRs []netip.Prefix
		// wantNext lists the blocks AllocateNext hands out after the call, then
		// ErrExhausted (checked only when wantErr is nil).
		wantNext []string
	}{
		"B1 appended CIDR serves the pool once the first is exhausted": {
			pool: full, cidr: pfx("10.2.0.0/23"),
			wantCIDRs: pfxs("10.0.0.0/23", "10.2.0.0/23"),
			wantNext:  []string{"10.2.0.0/24", "10.2.1.0/24"},
		},
		"B1 appended CIDR comes after free blocks of earlier CIDRs": {
			pool: setup{cidrs: []string{"10.0.0.0/23"}, blockBits: 24, allocate: 1}, cidr: pfx("9.0.0.0/24"),
			wantCIDRs: pfxs("10.0.0.0/23", "9.0.0.0/24"),
			wantNext:  []string{"10.0.1.0/24", "9.0.0.0/24"},
		},
		"B1 exclusions apply to an appended CIDR": {
			pool: full, cidr: pfx("10.1.0.0/23"),
			wantCIDRs: pfxs("10.0.0.0/23", "10.1.0.0/23"),
			wantNext:  []string{"10.1.1.0/24"},
		},
		"B1 appended CIDR entirely excluded adds nothing": {
			pool: full, cidr: pfx("10.1.0.0/24"),
			wantCIDRs: pfxs("10.0.0.0/23", "10.1.0.0/24"),
		},
		"overlapping CIDR returns ErrOverlap": {
			pool: full, cidr: pfx("10.0.1.0/24"), wantErr: ErrOverlap,
		},
		"superset of a CIDR returns ErrOverlap (use Widen)": {
			pool: full, cidr: pfx("10.0.0.0/16"), wantErr: ErrOverlap,
		},
		"the same CIDR again returns ErrOverlap": {
			pool: full, cidr: pfx("10.0.0.0/23"), wantErr: ErrOverlap,
		},
		"CIDR of the other family returns ErrFamily": {
			pool: full, cidr: pfx("fd00::/64"), wantErr: ErrFamily,
		},
		"non-canonical CIDR returns ErrInvalidCIDR": {
			pool: full, cidr: pfx("10.2.0.1/23"), wantErr: ErrInvalidCIDR,
		},
		"zero prefix returns ErrInvalidCIDR": {
			pool: full, cidr: netip.Prefix{}, wantErr: ErrInvalidCIDR,
		},
		"B2 CIDR smaller than a block returns ErrInvalidBlock": {
			pool: full, cidr: pfx("10.2.0.0/25"), wantErr: ErrInvalidBlock,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := build(t, tc.pool)
			before := usage(p.Usage())
			beforeCIDRs := p.CIDRs()
			err := p.AddCIDR(tc.cidr)
			checkErr(t, "AddCIDR", err, tc.wantErr)
			mustCheck(t, p)
			if tc.wantErr != nil {
				if got := p.CIDRs(); !reflect.DeepEqual(got, beforeCIDRs) || usage(p.Usage()) != before {
					t.Errorf("failed AddCIDR changed the pool: CIDRs %v, want %v", got, beforeCIDRs)
				}
				return
			}
			if got := p.CIDRs(); !reflect.DeepEqual(got, tc.wantCIDRs) {
				t.Errorf("CIDRs() = %v, want %v", got, tc.wantCIDRs)
			}
			checkDrain(t, p, tc.wantNext)
		})
	}
}

// checkDrain allocates until the pool is exhausted and compares the blocks with want.
func checkDrain(t *testing.T, p *Pool, want []string) {
	t.Helper()
	got := []string{}
	for {
		b, err := p.AllocateNext()
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatalf("AllocateNext: %v", err)
		}
		got = append(got, b.String())
		if len(got) > len(want)+1 {
			break
		}
	}
	if want == nil {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("blocks handed out until exhaustion = %v, want %v", got, want)
	}
	mustCheck(t, p)
}

func TestWiden(t *testing.T) {
	two := setup{
		cidrs: []string{"10.0.2.0/24", "10.8.0.0/24"}, blockBits: 25,
		exclusions: []string{"10.0.1.128/25"}, occupy: []string{"10.0.2.128/25", "10.8.0.0/25"},
	}
	tests := map[string]struct {
		pool       setup
		old, wider netip.Prefix
		wantErr    error
		wantCIDRs  []netip.Prefix
		// wantNext lists the blocks AllocateNext hands out after the call, until
		// ErrExhausted (checked only when wantErr is nil).
		wantNext []string
	}{
		"B1 widening upward keeps existing blocks and adds the new ones": {
			pool: two, old: pfx("10.0.2.0/24"), wider: pfx("10.0.2.0/23"),
			wantCIDRs: pfxs("10.0.2.0/23", "10.8.0.0/24"),
			wantNext:  []string{"10.0.2.0/25", "10.0.3.0/25", "10.0.3.128/25", "10.8.0.128/25"},
		},
		"B1 widening downward hands out the new lower blocks first, skipping exclusions": {
			pool: two, old: pfx("10.0.2.0/24"), wider: pfx("10.0.0.0/22"),
			wantCIDRs: pfxs("10.0.0.0/22", "10.8.0.0/24"),
			wantNext: []string{
				"10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/25", "10.0.2.0/25",
				"10.0.3.0/25", "10.0.3.128/25", "10.8.0.128/25",
			},
		},
		"B1 widening the second CIDR keeps its place in the pool order": {
			pool: two, old: pfx("10.8.0.0/24"), wider: pfx("10.8.0.0/23"),
			wantCIDRs: pfxs("10.0.2.0/24", "10.8.0.0/23"),
			wantNext:  []string{"10.0.2.0/25", "10.8.0.128/25", "10.8.1.0/25", "10.8.1.128/25"},
		},
		"B1 widening a full CIDR merges with nothing and serves the new half": {
			pool: setup{cidrs: []string{"10.0.0.0/24"}, blockBits: 24, allocate: 1},
			old:  pfx("10.0.0.0/24"), wider: pfx("10.0.0.0/23"),
			wantCIDRs: pfxs("10.0.0.0/23"),
			wantNext:  []string{"10.0.1.0/24"},
		},
		"B1 IPv6 /64 widened to /62 keeps its blocks": {
			pool: setup{cidrs: []string{"fd12:3456:789a:1::/64"}, blockBits: 72, allocate: 255},
			old:  pfx("fd12:3456:789a:1::/64"), wider: pfx("fd12:3456:789a::/62"),
			wantCIDRs: pfxs("fd12:3456:789a::/62"),
		},
		"widening to the same CIDR is rejected": {
			pool: two, old: pfx("10.0.2.0/24"), wider: pfx("10.0.2.0/24"), wantErr: ErrInvalidCIDR,
		},
		"widening to a narrower CIDR is rejected": {
			pool: two, old: pfx("10.0.2.0/24"), wider: pfx("10.0.2.0/25"), wantErr: ErrInvalidCIDR,
		},
		"widening to a disjoint CIDR is rejected, it is not a superset": {
			pool: two, old: pfx("10.0.2.0/24"), wider: pfx("10.4.0.0/16"), wantErr: ErrInvalidCIDR,
		},
		"widening a CIDR that is not in the pool returns ErrOutOfRange": {
			pool: two, old: pfx("10.0.3.0/24"), wider: pfx("10.0.2.0/23"), wantErr: ErrOutOfRange,
		},
		"widening into another CIDR of the pool returns ErrOverlap": {
			pool: two, old: pfx("10.0.2.0/24"), wider: pfx("10.0.0.0/12"), wantErr: ErrOverlap,
		},
		"widening to the other family returns ErrFamily": {
			pool: two, old: pfx("10.0.2.0/24"), wider: pfx("fd00::/8"), wantErr: ErrFamily,
		},
		"widening to a non-canonical CIDR returns ErrInvalidCIDR": {
			pool: two, old: pfx("10.0.2.0/24"), wider: pfx("10.0.2.0/22"), wantErr: ErrInvalidCIDR,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := build(t, tc.pool)
			before := usage(p.Usage())
			beforeCIDRs := p.CIDRs()
			var held []netip.Prefix
			for _, c := range beforeCIDRs {
				held = append(held, allocatedIn(p, c)...)
			}
			err := p.Widen(tc.old, tc.wider)
			checkErr(t, "Widen", err, tc.wantErr)
			mustCheck(t, p)
			if tc.wantErr != nil {
				if got := p.CIDRs(); !reflect.DeepEqual(got, beforeCIDRs) || usage(p.Usage()) != before {
					t.Errorf("failed Widen changed the pool: CIDRs %v, want %v", got, beforeCIDRs)
				}
				return
			}
			if got := p.CIDRs(); !reflect.DeepEqual(got, tc.wantCIDRs) {
				t.Errorf("CIDRs() = %v, want %v", got, tc.wantCIDRs)
			}
			for _, b := range held {
				if !p.IsAllocated(b) {
					t.Errorf("B1 block %s was allocated before Widen and is not after", b)
				}
			}
			if got, want := p.Usage().Allocated.String(), before[1]; got != want {
				t.Errorf("Allocated = %s after Widen, want %s", got, want)
			}
			if tc.wantNext != nil {
				checkDrain(t, p, tc.wantNext)
			}
		})
	}
}

// allocatedIn lists the allocated blocks of a small CIDR by brute force.
func allocatedIn(p *Pool, c netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	if p.BlockBits()-c.Bits() > 12 {
		return nil
	}
	for b := netip.PrefixFrom(c.Addr(), p.BlockBits()); c.Contains(b.Addr()); {
		if p.IsAllocated(b) {
			out = append(out, b)
		}
		next := nextBlock(b)
		if !next.IsValid() {
			break
		}
		b = next
	}
	return out
}

// nextBlock returns the block of the same size right after the aligned block b, or the
// zero prefix at the end of the address space.
func nextBlock(b netip.Prefix) netip.Prefix {
	a := b.Addr()
	shift := uint(a.BitLen() - b.Bits())
	n := addrToU128(a)
	// b is aligned, so shifting out its host bits loses nothing.
	sum := n.shr(shift).add1().shl(shift)
	if (a.Is4() && sum.lo>>32 != 0) || sum.less(n) {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(u128ToAddr(sum, familyOf(a)), b.Bits())
}

func TestRemoveCIDR(t *testing.T) {
	two := setup{cidrs: []string{"10.0.0.0/23", "10.1.0.0/23"}, blockBits: 24, exclusions: []string{"10.1.0.0/24"}}
	inUse := two
	inUse.occupy = []string{"10.1.1.0/24"}
	released := inUse
	released.release = []string{"10.1.1.0/24"}
	tests := map[string]struct {
		pool      setup
		cidr      netip.Prefix
		wantErr   error
		wantCIDRs []netip.Prefix
		// wantInMessage is a substring the error must contain.
		wantInMessage string
		// wantNext lists the blocks AllocateNext hands out after the call, until
		// ErrExhausted.
		wantNext []string
	}{
		"B1 remove is refused while a block is allocated inside, naming the block": {
			pool: inUse, cidr: pfx("10.1.0.0/23"), wantErr: ErrInUse, wantInMessage: "10.1.1.0/24",
		},
		"remove succeeds once the last block inside is released": {
			pool: released, cidr: pfx("10.1.0.0/23"),
			wantCIDRs: pfxs("10.0.0.0/23"), wantNext: []string{"10.0.0.0/24", "10.0.1.0/24"},
		},
		"remove ignores blocks allocated in other CIDRs": {
			pool: inUse, cidr: pfx("10.0.0.0/23"),
			wantCIDRs: pfxs("10.1.0.0/23"), wantNext: []string{},
		},
		"remove of the last CIDR leaves an exhausted pool": {
			pool: setup{cidrs: []string{"10.0.0.0/23"}, blockBits: 24}, cidr: pfx("10.0.0.0/23"),
			wantCIDRs: []netip.Prefix{}, wantNext: []string{},
		},
		"remove of a CIDR that is not in the pool returns ErrOutOfRange": {
			pool: two, cidr: pfx("10.0.0.0/24"), wantErr: ErrOutOfRange,
		},
		"remove of the other family returns ErrFamily": {
			pool: two, cidr: pfx("fd00::/64"), wantErr: ErrFamily,
		},
		"remove of a non-canonical CIDR returns ErrInvalidCIDR": {
			pool: two, cidr: pfx("10.0.0.1/23"), wantErr: ErrInvalidCIDR,
		},
		"IPv6 remove is refused while a block above 2^64 is allocated": {
			pool: setup{cidrs: []string{"fd00::/8"}, blockBits: 120, occupy: []string{"fd80::/120"}},
			cidr: pfx("fd00::/8"), wantErr: ErrInUse, wantInMessage: "fd80::/120",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := build(t, tc.pool)
			before := usage(p.Usage())
			beforeCIDRs := p.CIDRs()
			err := p.RemoveCIDR(tc.cidr)
			checkErr(t, "RemoveCIDR", err, tc.wantErr)
			mustCheck(t, p)
			if tc.wantErr != nil {
				if !strings.Contains(err.Error(), tc.wantInMessage) {
					t.Errorf("error %q does not name %q", err, tc.wantInMessage)
				}
				if got := p.CIDRs(); !reflect.DeepEqual(got, beforeCIDRs) || usage(p.Usage()) != before {
					t.Errorf("failed RemoveCIDR changed the pool: CIDRs %v, want %v", got, beforeCIDRs)
				}
				return
			}
			if got := p.CIDRs(); !reflect.DeepEqual(got, tc.wantCIDRs) {
				t.Errorf("CIDRs() = %v, want %v", got, tc.wantCIDRs)
			}
			checkDrain(t, p, tc.wantNext)
		})
	}
}

func TestRemovedCIDRCanBeAddedBack(t *testing.T) {
	p := build(t, setup{cidrs: []string{"10.0.0.0/24"}, blockBits: 24})
	if err := p.RemoveCIDR(pfx("10.0.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AllocateNext(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("AllocateNext on an empty pool = %v, want ErrExhausted", err)
	}
	if err := p.AddCIDR(pfx("10.0.0.0/24")); err != nil {
		t.Fatal(err)
	}
	checkDrain(t, p, []string{"10.0.0.0/24"})
}

func TestUsage(t *testing.T) {
	tests := map[string]struct {
		pool setup
		// wantUsage is total, allocated, free in decimal.
		wantUsage [3]string
	}{
		"R10 /16 of /24s with three allocated": {
			pool:      setup{cidrs: []string{"10.244.0.0/16"}, blockBits: 24, allocate: 3},
			wantUsage: [3]string{"256", "3", "253"},
		},
		"exclusions are not counted in Total": {
			pool: setup{
				cidrs: []string{"10.244.0.0/16"}, blockBits: 24,
				exclusions: []string{"10.244.0.0/20", "10.244.16.1/32"}, allocate: 1,
			},
			wantUsage: [3]string{"239", "1", "238"},
		},
		"exclusion covering the whole CIDR leaves Total zero": {
			pool:      setup{cidrs: []string{"10.0.0.0/22"}, blockBits: 24, exclusions: []string{"10.0.0.0/16"}},
			wantUsage: [3]string{"0", "0", "0"},
		},
		"released blocks are free again": {
			pool: setup{
				cidrs: []string{"10.0.0.0/22"}, blockBits: 24, allocate: 4,
				release: []string{"10.0.1.0/24", "10.0.3.0/24"},
			},
			wantUsage: [3]string{"4", "2", "2"},
		},
		"R11 usage is exact for the 2^56 /120 blocks of a /64": {
			pool:      setup{cidrs: []string{"fd12:3456:789a::/64"}, blockBits: 120, allocate: 5},
			wantUsage: [3]string{pow2(56), "5", "72057594037927931"},
		},
		"R11 usage is exact with an exclusion in a /64": {
			pool: setup{
				cidrs: []string{"fd12:3456:789a::/64"}, blockBits: 120,
				exclusions: []string{"fd12:3456:789a::/108"}, allocate: 1,
			},
			wantUsage: [3]string{"72057594037923840", "1", "72057594037923839"},
		},
		"R34 /64 cut into /80s": {
			pool:      setup{cidrs: []string{"fd12:3456:789a::/64"}, blockBits: 80, allocate: 2},
			wantUsage: [3]string{"65536", "2", "65534"},
		},
		"IPv6 /8 of /120s counts 2^112 blocks": {
			pool:      setup{cidrs: []string{"fd00::/8"}, blockBits: 120, occupy: []string{"fdff::/120"}},
			wantUsage: [3]string{pow2(112), "1", "5192296858534827628530496329220095"},
		},
		"IPv6 space of /128s counts 2^128 blocks": {
			pool:      setup{cidrs: []string{"::/0"}, blockBits: 128, exclusions: []string{"8000::/1"}},
			wantUsage: [3]string{pow2(127), "0", pow2(127)},
		},
		"two CIDRs add up": {
			pool:      setup{cidrs: []string{"10.0.0.0/23", "10.1.0.0/24"}, blockBits: 24, allocate: 3},
			wantUsage: [3]string{"3", "3", "0"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := build(t, tc.pool)
			u := p.Usage()
			if got := usage(u); got != tc.wantUsage {
				t.Errorf("Usage() = %v, want %v", got, tc.wantUsage)
			}
			if new(big.Int).Sub(u.Total, u.Allocated).Cmp(u.Free) != 0 {
				t.Errorf("Free %v != Total %v - Allocated %v", u.Free, u.Total, u.Allocated)
			}
		})
	}
}

// TestErrorsNamePoolAndBlock checks that messages carry what an operator needs: the
// pool, and the block or CIDR concerned.
func TestErrorsNamePoolAndBlock(t *testing.T) {
	p := build(t, setup{cidrs: []string{"10.0.0.0/23"}, blockBits: 24, exclusions: []string{"10.0.1.0/24"}, allocate: 1})
	tests := map[string]struct {
		err      error
		wantText []string
	}{
		"ErrInUse names the block": {
			err: p.Occupy(pfx("10.0.0.0/24")), wantText: []string{`"pods"`, "10.0.0.0/24", "in use"},
		},
		"ErrExcluded names the block and the exclusion": {
			err: p.Occupy(pfx("10.0.1.0/24")), wantText: []string{`"pods"`, "10.0.1.0/24", "exclusion", "excluded"},
		},
		"ErrOutOfRange names the block and the CIDRs": {
			err: p.Occupy(pfx("10.9.0.0/24")), wantText: []string{`"pods"`, "10.9.0.0/24", "10.0.0.0/23"},
		},
		"ErrNotAllocated names the block": {
			err: p.Release(pfx("10.9.0.0/24")), wantText: []string{`"pods"`, "10.9.0.0/24", "not allocated"},
		},
		"ErrExhausted names the pool and its CIDRs": {
			err: func() error { _, err := p.AllocateNext(); return err }(), wantText: []string{`"pods"`, "10.0.0.0/23", "/24"},
		},
		"ErrOverlap names both CIDRs": {
			err: p.AddCIDR(pfx("10.0.0.0/16")), wantText: []string{`"pods"`, "10.0.0.0/16", "10.0.0.0/23"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wantText {
				if !strings.Contains(tc.err.Error(), w) {
					t.Errorf("error %q does not contain %q", tc.err, w)
				}
			}
		})
	}
}
