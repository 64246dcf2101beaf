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
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// universeBits is the size of the fuzzed address space in host bits: every CIDR,
// exclusion and block of a fuzz run lies within 1,024 addresses, so a brute-force
// reference stays cheap.
const universeBits = 10

// universe is the small address space of one family that a fuzz run draws from.
type universe struct {
	// base is the first address; its low universeBits bits are zero.
	base netip.Addr
	// bits is the prefix length of the whole universe.
	bits int
}

// universes holds the fuzzed space of each family.
var universes = map[Family]universe{
	FamilyIPv4: {base: netip.MustParseAddr("10.1.0.0"), bits: 32 - universeBits},
	FamilyIPv6: {base: netip.MustParseAddr("fd00::"), bits: 128 - universeBits},
}

// addr returns the address at offset off (0 <= off < 1024) of the universe.
func (u universe) addr(off int) netip.Addr {
	return u128ToAddr(addrToU128(u.base).or(u128{lo: uint64(off)}), familyOf(u.base))
}

// prefix returns the prefix of relBits bits below the universe's at offset off, masked
// or not.
func (u universe) prefix(off, relBits int, masked bool) netip.Prefix {
	p := netip.PrefixFrom(u.addr(off), u.bits+relBits)
	if masked {
		return p.Masked()
	}
	return p
}

// fuzzReader hands out the fuzz input one byte at a time, then zeros.
type fuzzReader struct {
	// data is the fuzz input.
	data []byte
	// pos is the index of the next byte.
	pos int
}

// next returns the next byte, or 0 once the input is used up.
func (r *fuzzReader) next() int {
	if r.pos >= len(r.data) {
		r.pos++
		return 0
	}
	b := r.data[r.pos]
	r.pos++
	return int(b)
}

// done reports whether the input is used up.
func (r *fuzzReader) done() bool { return r.pos >= len(r.data) }

// model is the reference the pool is checked against: plain lists and a map, with
// every answer found by brute force over the universe.
type model struct {
	// family is the pool's family and u its universe; other is the other family's.
	family   Family
	u, other universe
	// blockBits is the pool's block size.
	blockBits int
	// cidrs and exclusions mirror the pool's.
	cidrs, exclusions []netip.Prefix
	// alloc is the set of allocated blocks.
	alloc map[netip.Prefix]bool
}

// blocksOf lists the blocks of c in ascending order.
func (m *model) blocksOf(c netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for b := netip.PrefixFrom(c.Addr(), m.blockBits); b.IsValid() && c.Contains(b.Addr()); b = nextBlock(b) {
		out = append(out, b)
	}
	return out
}

// universeBlocks lists every block of the pool's size in the universe.
func (m *model) universeBlocks() []netip.Prefix {
	return m.blocksOf(netip.PrefixFrom(m.u.base, m.u.bits))
}

// excluded reports whether b overlaps an exclusion.
func (m *model) excluded(b netip.Prefix) bool {
	for _, e := range m.exclusions {
		if e.Overlaps(b) {
			return true
		}
	}
	return false
}

// inPool reports whether b lies in one of the CIDRs.
func (m *model) inPool(b netip.Prefix) bool {
	for _, c := range m.cidrs {
		if c.Contains(b.Addr()) {
			return true
		}
	}
	return false
}

// lowestFree returns the block AllocateNext must return, by brute force.
func (m *model) lowestFree() (netip.Prefix, bool) {
	for _, c := range m.cidrs {
		for _, b := range m.blocksOf(c) {
			if !m.excluded(b) && !m.alloc[b] {
				return b, true
			}
		}
	}
	return netip.Prefix{}, false
}

// total counts the usable blocks by brute force.
func (m *model) total() int {
	n := 0
	for _, c := range m.cidrs {
		for _, b := range m.blocksOf(c) {
			if !m.excluded(b) {
				n++
			}
		}
	}
	return n
}

// prefixErr is the error the pool must give for a CIDR or exclusion (checkPrefix).
func (m *model) prefixErr(c netip.Prefix) error {
	switch {
	case !c.IsValid() || c.Addr().Is4In6() || c != c.Masked():
		return ErrInvalidCIDR
	case familyOf(c.Addr()) != m.family:
		return ErrFamily
	}
	return nil
}

// cidrErr is the error the pool must give for a CIDR argument (checkCIDR).
func (m *model) cidrErr(c netip.Prefix) error {
	if err := m.prefixErr(c); err != nil {
		return err
	}
	if c.Bits() > m.blockBits {
		return ErrInvalidBlock
	}
	return nil
}

// blockErr is the error Occupy must give for b, nil if b is free to occupy.
func (m *model) blockErr(b netip.Prefix) error {
	switch {
	case !b.IsValid() || b.Addr().Is4In6():
		return ErrInvalidBlock
	case familyOf(b.Addr()) != m.family:
		return ErrFamily
	case b.Bits() != m.blockBits || b != b.Masked():
		return ErrInvalidBlock
	case !m.inPool(b):
		return ErrOutOfRange
	case m.excluded(b):
		return ErrExcluded
	case m.alloc[b]:
		return ErrInUse
	}
	return nil
}

// overlapping reports whether c overlaps a CIDR of the model other than skip (-1 for none).
func (m *model) overlapping(c netip.Prefix, skip int) bool {
	for i, o := range m.cidrs {
		if i != skip && o.Overlaps(c) {
			return true
		}
	}
	return false
}

// genPrefix draws a CIDR-like prefix of relBits in [minRel, maxRel]; one in eight is
// left non-canonical and, if other is set, one in eight is of the other family.
func (m *model) genPrefix(r *fuzzReader, minRel, maxRel int, other bool) netip.Prefix {
	b := r.next()
	off := (r.next()<<8 | r.next()) & (1<<universeBits - 1)
	rel := minRel + b%(maxRel-minRel+1)
	switch b >> 5 {
	case 0:
		return m.u.prefix(off, rel, false)
	case 1:
		if other {
			return m.other.prefix(off, rel, true)
		}
	}
	return m.u.prefix(off, rel, true)
}

// genBlock draws a block of the universe: mostly well-formed, sometimes of the wrong
// size, unaligned, of the other family or the zero prefix.
func (m *model) genBlock(r *fuzzReader) netip.Prefix {
	b := r.next()
	off := (r.next()<<8 | r.next()) & (1<<universeBits - 1)
	rel := m.blockBits - m.u.bits
	switch b % 16 {
	case 0:
		return m.u.prefix(off, rel-1+2*(b>>4&1), true)
	case 1:
		return m.other.prefix(off, rel, true)
	case 2:
		return m.u.prefix(off|1, rel, false)
	case 3:
		return netip.Prefix{}
	}
	return m.u.prefix(off, rel, true)
}

// FuzzPool decodes the input into a pool and a sequence of operations on it, applies each
// to the pool and to the reference model, and after every step checks that the pool
// agrees with the model: the same error, the same lowest free block, the same
// allocated set, the same CIDRs and exact usage. Blocks never overlap because the model
// holds distinct aligned blocks of one size that the pool must agree on (B4).
func FuzzPool(f *testing.F) {
	f.Add([]byte{0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0x05, 0x02, 0x02, 0x00, 0x00, 0x03, 0x02, 0x00, 0x01, 0x02, 0x41, 0x00, 0x80, 0, 0, 0, 6, 6, 6, 0, 0})
	f.Add([]byte{0x00, 0x00, 0x03, 0x00, 0x00, 0x01, 0x02, 0x01, 0x30, 0x00, 0x10, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x09, 0x00})
	f.Add([]byte("widen and remove: \x08\x00\x01\x09\x00\x07\x02\x00\x00\x05"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzReader{data: data}
		head := r.next()
		fam := FamilyIPv4
		if head&1 == 1 {
			fam = FamilyIPv6
		}
		other := FamilyIPv6
		if fam == FamilyIPv6 {
			other = FamilyIPv4
		}
		m := &model{family: fam, u: universes[fam], other: universes[other], alloc: map[netip.Prefix]bool{}}
		blockRel := 4 + (head>>1)%4
		m.blockBits = m.u.bits + blockRel

		var cidrs, exclusions []netip.Prefix
		for n := 1 + r.next()%3; len(cidrs) < n; {
			cidrs = append(cidrs, m.genPrefix(r, 0, blockRel+1, len(cidrs) > 0))
		}
		for n := r.next() % 4; len(exclusions) < n; {
			exclusions = append(exclusions, m.genPrefix(r, 2, universeBits, true))
		}
		var wantErr error
		if err := m.prefixErr(cidrs[0]); err != nil {
			wantErr = err
		}
		for _, e := range exclusions {
			if wantErr == nil {
				wantErr = m.prefixErr(e)
			}
		}
		if wantErr == nil {
			m.exclusions = exclusions
			for _, c := range cidrs {
				if err := m.cidrErr(c); err != nil {
					wantErr = err
					break
				}
				if m.overlapping(c, -1) {
					wantErr = ErrOverlap
					break
				}
				m.cidrs = append(m.cidrs, c)
			}
		}
		p, err := NewPool("fuzz", cidrs, m.blockBits, exclusions)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("NewPool(%v, /%d, %v) = %v, want %v", cidrs, m.blockBits, exclusions, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("NewPool(%v, /%d, %v): %v", cidrs, m.blockBits, exclusions, err)
		}
		m.verify(t, p, "NewPool")

		for step := 0; step < 128 && !r.done(); step++ {
			what := m.apply(t, p, r)
			m.verify(t, p, fmt.Sprintf("step %d: %s", step, what))
		}
	})
}

// apply decodes one operation, runs it on the pool and the model and checks its
// result. It returns a description for failure messages.
func (m *model) apply(t *testing.T, p *Pool, r *fuzzReader) string {
	t.Helper()
	expect := func(what string, err, want error) string {
		t.Helper()
		if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Fatalf("%s = %v, want %v\ncidrs %v exclusions %v block /%d allocated %v",
				what, err, want, m.cidrs, m.exclusions, m.blockBits, m.sorted())
		}
		return what
	}
	switch op := r.next() % 10; op {
	case 0, 1, 2:
		got, err := p.AllocateNext()
		want, ok := m.lowestFree()
		if !ok {
			return expect(fmt.Sprintf("AllocateNext() = %v", got), err, ErrExhausted)
		}
		if err != nil || got != want {
			t.Fatalf("AllocateNext() = %v, %v; want %v (lowest free)\ncidrs %v exclusions %v allocated %v",
				got, err, want, m.cidrs, m.exclusions, m.sorted())
		}
		m.alloc[got] = true
		return "AllocateNext() = " + got.String()
	case 3, 4:
		b := m.genBlock(r)
		if op == 4 {
			// Aim inside the pool, where the interesting answers are.
			var all []netip.Prefix
			for _, c := range m.cidrs {
				all = append(all, m.blocksOf(c)...)
			}
			if len(all) > 0 {
				b = all[(r.next()<<8|r.next())%len(all)]
			}
		}
		want := m.blockErr(b)
		s := expect(fmt.Sprintf("Occupy(%v)", b), p.Occupy(b), want)
		if want == nil {
			m.alloc[b] = true
		}
		return s
	case 5, 6:
		b := m.genBlock(r)
		if keys := m.sorted(); op == 6 && len(keys) > 0 {
			b = keys[r.next()%len(keys)]
		}
		want := m.blockErr(b)
		switch {
		case want == nil:
			want = ErrNotAllocated
		case errors.Is(want, ErrInUse):
			want = nil
		}
		err := p.Release(b)
		if err != nil && !errors.Is(err, ErrNotAllocated) {
			t.Fatalf("Release(%v) = %v, does not wrap ErrNotAllocated", b, err)
		}
		s := expect(fmt.Sprintf("Release(%v)", b), err, want)
		if want == nil {
			delete(m.alloc, b)
		}
		return s
	case 7:
		c := m.genPrefix(r, 0, m.blockBits-m.u.bits+1, true)
		want := m.cidrErr(c)
		if want == nil && m.overlapping(c, -1) {
			want = ErrOverlap
		}
		s := expect(fmt.Sprintf("AddCIDR(%v)", c), p.AddCIDR(c), want)
		if want == nil {
			m.cidrs = append(m.cidrs, c)
		}
		return s
	case 8:
		sel := r.next()
		old := m.genPrefix(r, 0, m.blockBits-m.u.bits+1, true)
		if len(m.cidrs) > 0 && sel%8 != 0 {
			old = m.cidrs[sel%len(m.cidrs)]
		}
		wsel := r.next()
		wider := m.genPrefix(r, 0, m.blockBits-m.u.bits, true)
		if old.IsValid() && wsel%8 != 0 {
			// A prefix around old, from the universe down to old itself.
			rel := old.Bits() - m.u.bits
			if rel >= 0 && rel <= universeBits {
				wider = netip.PrefixFrom(old.Addr(), m.u.bits+wsel%(rel+1)).Masked()
			}
		}
		want := m.cidrErr(old)
		i := slices.Index(m.cidrs, old)
		if want == nil && i < 0 {
			want = ErrOutOfRange
		}
		if want == nil {
			want = m.cidrErr(wider)
		}
		if want == nil && (wider.Bits() >= old.Bits() || !wider.Contains(old.Addr())) {
			want = ErrInvalidCIDR
		}
		if want == nil && m.overlapping(wider, i) {
			want = ErrOverlap
		}
		s := expect(fmt.Sprintf("Widen(%v, %v)", old, wider), p.Widen(old, wider), want)
		if want == nil {
			m.cidrs[i] = wider
		}
		return s
	default:
		sel := r.next()
		c := m.genPrefix(r, 0, m.blockBits-m.u.bits+1, true)
		if len(m.cidrs) > 0 && sel%8 != 0 {
			c = m.cidrs[sel%len(m.cidrs)]
		}
		want := m.cidrErr(c)
		i := slices.Index(m.cidrs, c)
		if want == nil && i < 0 {
			want = ErrOutOfRange
		}
		if want == nil {
			for b := range m.alloc {
				if c.Contains(b.Addr()) {
					want = ErrInUse
				}
			}
		}
		s := expect(fmt.Sprintf("RemoveCIDR(%v)", c), p.RemoveCIDR(c), want)
		if want == nil {
			m.cidrs = slices.Delete(m.cidrs, i, i+1)
		}
		return s
	}
}

// sorted returns the allocated blocks in address order.
func (m *model) sorted() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m.alloc))
	for b := range m.alloc {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// verify checks every invariant of the pool against the model.
func (m *model) verify(t *testing.T, p *Pool, after string) {
	t.Helper()
	if err := p.check(); err != nil {
		t.Fatalf("after %s: %v", after, err)
	}
	if got := p.CIDRs(); !slices.Equal(got, m.cidrs) {
		t.Fatalf("after %s: CIDRs() = %v, want %v", after, got, m.cidrs)
	}
	for b := range m.alloc {
		// The model's blocks are distinct aligned prefixes of one size, so they cannot
		// overlap; check that they are that, inside the pool and clear of exclusions.
		if b.Bits() != m.blockBits || b != b.Masked() || !m.inPool(b) || m.excluded(b) {
			t.Fatalf("after %s: model holds bad block %v", after, b)
		}
	}
	for _, b := range m.universeBlocks() {
		if got, want := p.IsAllocated(b), m.alloc[b]; got != want {
			t.Fatalf("after %s: IsAllocated(%v) = %v, want %v", after, b, got, want)
		}
		if got, want := p.Contains(b), m.inPool(b); got != want {
			t.Fatalf("after %s: Contains(%v) = %v, want %v", after, b, got, want)
		}
	}
	u := p.Usage()
	total, allocated := m.total(), len(m.alloc)
	if !u.Total.IsInt64() || u.Total.Int64() != int64(total) ||
		!u.Allocated.IsInt64() || u.Allocated.Int64() != int64(allocated) ||
		!u.Free.IsInt64() || u.Free.Int64() != int64(total-allocated) {
		t.Fatalf("after %s: Usage() = %v/%v/%v, want %d/%d/%d", after,
			u.Total, u.Allocated, u.Free, total, allocated, total-allocated)
	}
}
