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
	"math/big"
	"net/netip"
	"slices"
	"sort"
)

// Family is the IP family of a pool. The zero value is not a family, so a pool or a
// caller that forgot to set one is caught rather than silently treated as IPv4.
type Family int

const (
	// FamilyIPv4 is a pool of IPv4 blocks.
	FamilyIPv4 Family = iota + 1
	// FamilyIPv6 is a pool of IPv6 blocks.
	FamilyIPv6
)

// String returns "IPv4" or "IPv6", the spelling of the API's ipFamilies field.
func (f Family) String() string {
	switch f {
	case FamilyIPv4:
		return "IPv4"
	case FamilyIPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// addrBits is the address width of the family.
func (f Family) addrBits() int {
	if f == FamilyIPv4 {
		return 32
	}
	return 128
}

// familyOf returns the family of a valid address that is not IPv4-mapped IPv6.
func familyOf(a netip.Addr) Family {
	if a.Is4() {
		return FamilyIPv4
	}
	return FamilyIPv6
}

// The sentinel errors. Every error the package returns wraps exactly one of them (Release
// wraps ErrNotAllocated as well, see there), with a message that names the pool and the
// block or CIDR concerned; test them with errors.Is.
var (
	// ErrExhausted means AllocateNext found no free block in any CIDR of the pool.
	ErrExhausted = errors.New("pool exhausted")
	// ErrOutOfRange means a block lies outside every CIDR of the pool, or a CIDR passed
	// to Widen or RemoveCIDR is not one of the pool's CIDRs.
	ErrOutOfRange = errors.New("out of range")
	// ErrInUse means a block is already allocated (Occupy), or a CIDR still holds
	// allocated blocks (RemoveCIDR).
	ErrInUse = errors.New("in use")
	// ErrNotAllocated means Release was given a block that is not allocated.
	ErrNotAllocated = errors.New("not allocated")
	// ErrInvalidBlock means a block is not a valid, aligned prefix of the pool's block
	// size, or a block size does not fit the address family or a CIDR.
	ErrInvalidBlock = errors.New("invalid block")
	// ErrExcluded means a block overlaps one of the pool's exclusions.
	ErrExcluded = errors.New("excluded")
	// ErrOverlap means a CIDR overlaps another CIDR of the pool.
	ErrOverlap = errors.New("overlapping CIDRs")
	// ErrFamily means a CIDR, exclusion or block is not of the pool's family.
	ErrFamily = errors.New("wrong IP family")
	// ErrInvalidCIDR means a CIDR or exclusion is invalid, not canonical (its address
	// has host bits set) or an IPv4-mapped IPv6 prefix, a pool was given no CIDR, or a
	// widening is not to a strict superset.
	ErrInvalidCIDR = errors.New("invalid CIDR")
)

// Pool hands out fixed-size blocks (one per node) from the CIDRs of one IP family.
//
// Failure policy:
//   - Every method is all-or-nothing: when it returns an error the pool is exactly as it
//     was before the call, so a caller can report the error and carry on.
//   - A block is never handed out twice (B4): AllocateNext returns only free blocks, and
//     Occupy refuses a block that is already allocated instead of counting it twice, so
//     two sources of truth that disagree (two Nodes claiming one block after a restart)
//     surface as ErrInUse instead of a silent duplicate.
//   - The pool never frees a block on its own. Deciding when a block is free again (for
//     the controller: only once the Node with that UID is gone) is the caller's job, and
//     Release is its only way to say so.
//   - A CIDR leaves the pool only when it holds no allocated block: RemoveCIDR refuses
//     otherwise, because dropping it would strand the blocks of live nodes.
//   - Exclusions are permanent and apply to every CIDR, including CIDRs added or widened
//     later: an overlapping block is never returned and never occupied.
//
// A Pool is not safe for concurrent use; the caller serialises access.
type Pool struct {
	// name identifies the pool in error messages only.
	name string
	// family is the family of every CIDR, exclusion and block of the pool, fixed by the
	// first CIDR given to NewPool.
	family Family
	// blockBits is the prefix length of every block (24 gives /24 blocks).
	blockBits int
	// shift is the number of host bits in a block (address bits - blockBits): a block's
	// number is its address shifted right by shift.
	shift uint
	// spans holds one entry per CIDR, in pool order, which is the order AllocateNext
	// searches them in.
	spans []*span
	// exclusions are the ranges never handed out, as given to NewPool (validated,
	// canonical); kept so that CIDRs added or widened later are clipped too.
	exclusions []netip.Prefix
}

// span is one CIDR of a pool and the state of its blocks. Each block is in exactly one
// of three states: excluded (in excluded), free (in free) or allocated (neither); only
// the count of allocated blocks is stored, so memory is proportional to the number of
// free runs, not to the size of the CIDR.
type span struct {
	// cidr is the CIDR as given (canonical).
	cidr netip.Prefix
	// first and last are the numbers of the CIDR's first and last block, inclusive.
	first, last u128
	// excluded holds the block ranges of the CIDR that overlap an exclusion: sorted,
	// disjoint and not touching.
	excluded []interval
	// free holds the free blocks as maximal runs.
	free freeSet
	// allocated counts the allocated blocks; no call sequence can reach 2^64.
	allocated uint64
}

// Usage counts the blocks of a pool. The counts are exact big integers because a large
// IPv6 pool holds far more blocks than an int64 can count (a /64 cut into /120s holds
// 2^56, a /8 cut into /120s 2^112). Free == Total - Allocated always holds.
type Usage struct {
	// Total is the number of usable blocks: every block of every CIDR of the pool, minus
	// the blocks that overlap an exclusion (and so can never be allocated).
	Total *big.Int
	// Allocated is the number of blocks allocated by AllocateNext or Occupy and not
	// released since.
	Allocated *big.Int
	// Free is the number of blocks AllocateNext can still hand out: Total - Allocated.
	Free *big.Int
}

// NewPool returns an empty pool named name (used in error messages) over cidrs, in
// that order, cut into blocks of prefix length blockBits, never handing out a block that
// overlaps one of exclusions.
//
// The family is that of the first CIDR. Every CIDR and exclusion must be valid,
// canonical (no host bits set; IPv4-mapped IPv6 is refused) and of that family
// (ErrInvalidCIDR, ErrFamily); blockBits must be at least every CIDR's prefix length and
// at most the address width, 32 or 128 (ErrInvalidBlock); the CIDRs must not overlap
// each other (ErrOverlap). Exclusions may overlap each other and need not overlap any
// CIDR. Callers use /24 (R10) and /120 (R11) by default, and any size that fits (B2).
func NewPool(name string, cidrs []netip.Prefix, blockBits int, exclusions []netip.Prefix) (*Pool, error) {
	if len(cidrs) == 0 {
		return nil, fmt.Errorf("pool %q: no CIDR given: %w", name, ErrInvalidCIDR)
	}
	if err := checkCanonical(name, "CIDR", cidrs[0]); err != nil {
		return nil, err
	}
	p := &Pool{name: name, family: familyOf(cidrs[0].Addr())}
	width := p.family.addrBits()
	if blockBits < 0 || blockBits > width {
		return nil, fmt.Errorf("pool %q: block size /%d does not fit an %s address: %w",
			name, blockBits, p.family, ErrInvalidBlock)
	}
	p.blockBits = blockBits
	p.shift = uint(width - blockBits)
	for _, e := range exclusions {
		if err := p.checkPrefix("exclusion", e); err != nil {
			return nil, err
		}
	}
	p.exclusions = slices.Clone(exclusions)
	for _, c := range cidrs {
		if err := p.AddCIDR(c); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Name returns the name given to NewPool.
func (p *Pool) Name() string { return p.name }

// Family returns the IP family of the pool.
func (p *Pool) Family() Family { return p.family }

// BlockBits returns the prefix length of the pool's blocks.
func (p *Pool) BlockBits() int { return p.blockBits }

// CIDRs returns a copy of the pool's CIDRs in pool order: the order of NewPool, then
// of AddCIDR, a widened CIDR keeping its place.
func (p *Pool) CIDRs() []netip.Prefix {
	out := make([]netip.Prefix, len(p.spans))
	for i, s := range p.spans {
		out[i] = s.cidr
	}
	return out
}

// AllocateNext allocates and returns the lowest free block of the first CIDR, in pool
// order, that has one. It never returns a block that is allocated, that overlaps an
// exclusion or that lies outside the CIDRs. It returns ErrExhausted when no block is
// free. Cost: O(number of CIDRs + log(free runs)).
func (p *Pool) AllocateNext() (netip.Prefix, error) {
	for _, s := range p.spans {
		if num, ok := s.free.takeMin(); ok {
			s.allocated++
			return p.prefixOf(num), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("pool %q: no free /%d block left in %v: %w",
		p.name, p.blockBits, p.CIDRs(), ErrExhausted)
}

// Occupy marks block as allocated; it is the restore path, replaying the blocks
// recorded before a restart. It fails, in this order of checks, with ErrInvalidBlock if
// block is not a valid, aligned prefix of the pool's block size, ErrFamily if it is of
// the other family, ErrOutOfRange if it lies outside every CIDR, ErrExcluded if it
// overlaps an exclusion, and ErrInUse if it is already allocated (B4: two owners of
// one block are reported, never merged). Cost: O(number of CIDRs + log(free runs)).
func (p *Pool) Occupy(block netip.Prefix) error {
	s, num, err := p.locate(block)
	if err != nil {
		return err
	}
	if !s.free.contains(num) {
		return fmt.Errorf("pool %q: block %s: %w", p.name, block, ErrInUse)
	}
	s.free.take(num)
	s.allocated++
	return nil
}

// Release frees block, making it the candidate for the next AllocateNext if it is now
// the lowest free block. Every failure wraps ErrNotAllocated, because a block that is
// invalid, of the other family, out of range or excluded cannot be allocated either;
// such failures also wrap the sentinel Occupy would return (ErrInvalidBlock, ErrFamily,
// ErrOutOfRange, ErrExcluded), so a caller can tell a stale release, which is harmless,
// from a malformed one. Cost: O(number of CIDRs + log(free runs)).
func (p *Pool) Release(block netip.Prefix) error {
	s, num, err := p.locate(block)
	if err != nil {
		return fmt.Errorf("%w: %w", err, ErrNotAllocated)
	}
	if s.free.contains(num) {
		return fmt.Errorf("pool %q: block %s: %w", p.name, block, ErrNotAllocated)
	}
	s.free.add(interval{lo: num, hi: num})
	s.allocated--
	return nil
}

// IsAllocated reports whether block is allocated in the pool. It is false for anything
// that is not a block of the pool.
func (p *Pool) IsAllocated(block netip.Prefix) bool {
	s, num, err := p.locate(block)
	return err == nil && !s.free.contains(num)
}

// Contains reports whether block is a valid, aligned block of the pool's size inside
// one of its CIDRs, whether or not it is allocated or excluded.
func (p *Pool) Contains(block netip.Prefix) bool {
	num, err := p.checkBlock(block)
	return err == nil && p.spanOf(num) != nil
}

// AddCIDR appends cidr to the pool (B1); its blocks come after those of every existing
// CIDR in AllocateNext's order, and no existing block moves. It fails with
// ErrInvalidCIDR, ErrFamily or ErrInvalidBlock as NewPool does, and with ErrOverlap if
// cidr overlaps a CIDR of the pool; to grow a CIDR into a superset use Widen instead.
func (p *Pool) AddCIDR(cidr netip.Prefix) error {
	if err := p.checkCIDR(cidr); err != nil {
		return err
	}
	for _, s := range p.spans {
		if s.cidr.Overlaps(cidr) {
			return fmt.Errorf("pool %q: CIDR %s overlaps CIDR %s: %w", p.name, cidr, s.cidr, ErrOverlap)
		}
	}
	p.spans = append(p.spans, p.newSpan(cidr))
	return nil
}

// Widen replaces the pool CIDR old by wider, a strict superset of it, in the same place
// of the pool order (B1). Every allocated block stays allocated where it is; the new
// blocks are free unless excluded. It fails with ErrInvalidCIDR, ErrFamily or
// ErrInvalidBlock if old or wider is not a valid CIDR for the pool, ErrOutOfRange if old
// is not a CIDR of the pool, ErrInvalidCIDR if wider is not a strict superset of old,
// and ErrOverlap if wider overlaps another CIDR of the pool. Cost: O(number of CIDRs +
// exclusions + log(free runs)).
func (p *Pool) Widen(old, wider netip.Prefix) error {
	if err := p.checkCIDR(old); err != nil {
		return err
	}
	i := p.indexOf(old)
	if i < 0 {
		return fmt.Errorf("pool %q: CIDR %s is not one of %v: %w", p.name, old, p.CIDRs(), ErrOutOfRange)
	}
	if err := p.checkCIDR(wider); err != nil {
		return err
	}
	if wider.Bits() >= old.Bits() || !wider.Contains(old.Addr()) {
		return fmt.Errorf("pool %q: CIDR %s is not a strict superset of %s: %w", p.name, wider, old, ErrInvalidCIDR)
	}
	for j, s := range p.spans {
		if j != i && s.cidr.Overlaps(wider) {
			return fmt.Errorf("pool %q: CIDR %s overlaps CIDR %s: %w", p.name, wider, s.cidr, ErrOverlap)
		}
	}
	s := p.spans[i]
	first, last := p.blockRange(wider)
	excluded := p.excludedIn(first, last)
	// Within the old range the exclusions and the free runs are unchanged; only the
	// blocks below and above it are new. add merges the pieces that touch the old range.
	if first.less(s.first) {
		for _, iv := range freePieces(first, s.first.sub1(), excluded) {
			s.free.add(iv)
		}
	}
	if s.last.less(last) {
		for _, iv := range freePieces(s.last.add1(), last, excluded) {
			s.free.add(iv)
		}
	}
	s.cidr, s.first, s.last, s.excluded = wider, first, last, excluded
	return nil
}

// RemoveCIDR removes cidr, which must be one of the pool's CIDRs (ErrOutOfRange), from
// the pool. It refuses with ErrInUse, naming the lowest allocated block, while any
// allocated block lies inside cidr. Removing the last CIDR is allowed: the pool keeps
// its family and block size, AllocateNext returns ErrExhausted, and AddCIDR can refill
// it.
func (p *Pool) RemoveCIDR(cidr netip.Prefix) error {
	if err := p.checkCIDR(cidr); err != nil {
		return err
	}
	i := p.indexOf(cidr)
	if i < 0 {
		return fmt.Errorf("pool %q: CIDR %s is not one of %v: %w", p.name, cidr, p.CIDRs(), ErrOutOfRange)
	}
	if s := p.spans[i]; s.allocated > 0 {
		return fmt.Errorf("pool %q: CIDR %s still holds %d allocated blocks, the lowest %s: %w",
			p.name, cidr, s.allocated, p.prefixOf(s.lowestAllocated()), ErrInUse)
	}
	p.spans = slices.Delete(p.spans, i, i+1)
	return nil
}

// Usage returns the block counts of the pool (see Usage). Cost: O(number of CIDRs *
// exclusions), independent of the number of blocks.
func (p *Pool) Usage() Usage {
	total, allocated := new(big.Int), new(big.Int)
	for _, s := range p.spans {
		n := new(big.Int).Lsh(big.NewInt(1), uint(p.blockBits-s.cidr.Bits()))
		for _, iv := range s.excluded {
			n.Sub(n, size(iv))
		}
		total.Add(total, n)
		allocated.Add(allocated, new(big.Int).SetUint64(s.allocated))
	}
	return Usage{Total: total, Allocated: allocated, Free: new(big.Int).Sub(total, allocated)}
}

// checkCanonical checks what every prefix given to a pool must be: valid, not
// IPv4-mapped IPv6, and canonical.
func checkCanonical(pool, kind string, c netip.Prefix) error {
	switch {
	case !c.IsValid():
		return fmt.Errorf("pool %q: %s %s: %w", pool, kind, c, ErrInvalidCIDR)
	case c.Addr().Is4In6():
		return fmt.Errorf("pool %q: %s %s is IPv4-mapped IPv6: %w", pool, kind, c, ErrInvalidCIDR)
	case c != c.Masked():
		return fmt.Errorf("pool %q: %s %s is not canonical (want %s): %w", pool, kind, c, c.Masked(), ErrInvalidCIDR)
	}
	return nil
}

// checkPrefix checks a CIDR or exclusion: canonical and of the pool's family.
func (p *Pool) checkPrefix(kind string, c netip.Prefix) error {
	if err := checkCanonical(p.name, kind, c); err != nil {
		return err
	}
	if f := familyOf(c.Addr()); f != p.family {
		return fmt.Errorf("pool %q: %s %s is %s, the pool is %s: %w", p.name, kind, c, f, p.family, ErrFamily)
	}
	return nil
}

// checkCIDR checks a CIDR: canonical, of the pool's family, and holding at least one
// whole block.
func (p *Pool) checkCIDR(c netip.Prefix) error {
	if err := p.checkPrefix("CIDR", c); err != nil {
		return err
	}
	if c.Bits() > p.blockBits {
		return fmt.Errorf("pool %q: CIDR %s is smaller than a /%d block: %w", p.name, c, p.blockBits, ErrInvalidBlock)
	}
	return nil
}

// checkBlock checks that block is an aligned block of the pool's family and size and
// returns its number.
func (p *Pool) checkBlock(block netip.Prefix) (u128, error) {
	switch {
	case !block.IsValid() || block.Addr().Is4In6():
		return u128{}, fmt.Errorf("pool %q: block %s: %w", p.name, block, ErrInvalidBlock)
	case familyOf(block.Addr()) != p.family:
		return u128{}, fmt.Errorf("pool %q: block %s is not %s: %w", p.name, block, p.family, ErrFamily)
	case block.Bits() != p.blockBits:
		return u128{}, fmt.Errorf("pool %q: block %s is not a /%d block: %w", p.name, block, p.blockBits, ErrInvalidBlock)
	case block != block.Masked():
		return u128{}, fmt.Errorf("pool %q: block %s is not aligned (want %s): %w", p.name, block, block.Masked(), ErrInvalidBlock)
	}
	return addrToU128(block.Addr()).shr(p.shift), nil
}

// locate checks block and returns its span and number, failing as Occupy documents for
// a block that is invalid, out of range or excluded.
func (p *Pool) locate(block netip.Prefix) (*span, u128, error) {
	num, err := p.checkBlock(block)
	if err != nil {
		return nil, u128{}, err
	}
	s := p.spanOf(num)
	if s == nil {
		return nil, u128{}, fmt.Errorf("pool %q: block %s is outside %v: %w", p.name, block, p.CIDRs(), ErrOutOfRange)
	}
	if _, ok := s.excludedAt(num); ok {
		return nil, u128{}, fmt.Errorf("pool %q: block %s overlaps exclusion %s: %w",
			p.name, block, p.exclusionOf(block), ErrExcluded)
	}
	return s, num, nil
}

// spanOf returns the span holding block number num, or nil.
func (p *Pool) spanOf(num u128) *span {
	for _, s := range p.spans {
		if !num.less(s.first) && !s.last.less(num) {
			return s
		}
	}
	return nil
}

// indexOf returns the position of cidr among the pool's CIDRs, or -1.
func (p *Pool) indexOf(cidr netip.Prefix) int {
	for i, s := range p.spans {
		if s.cidr == cidr {
			return i
		}
	}
	return -1
}

// exclusionOf returns the first exclusion overlapping block, for error messages.
func (p *Pool) exclusionOf(block netip.Prefix) netip.Prefix {
	for _, e := range p.exclusions {
		if e.Overlaps(block) {
			return e
		}
	}
	return netip.Prefix{}
}

// prefixOf returns the block with number num.
func (p *Pool) prefixOf(num u128) netip.Prefix {
	return netip.PrefixFrom(u128ToAddr(num.shl(p.shift), p.family), p.blockBits)
}

// blockRange returns the numbers of the first and last block of a CIDR that holds at
// least one block.
func (p *Pool) blockRange(c netip.Prefix) (first, last u128) {
	first = addrToU128(c.Addr()).shr(p.shift)
	return first, first.or(ones(uint(p.blockBits - c.Bits())))
}

// newSpan returns the span of a checked CIDR with every block free but the excluded.
func (p *Pool) newSpan(c netip.Prefix) *span {
	first, last := p.blockRange(c)
	s := &span{cidr: c, first: first, last: last, excluded: p.excludedIn(first, last)}
	for _, iv := range freePieces(first, last, s.excluded) {
		// The pieces are separated by excluded blocks, so they never touch.
		s.free.insert(iv)
	}
	return s
}

// excludedIn returns the block ranges within [first, last] that overlap an exclusion,
// sorted and merged so that no two overlap or touch. An exclusion smaller than a block
// excludes the whole block that holds it.
func (p *Pool) excludedIn(first, last u128) []interval {
	var out []interval
	width := uint(p.family.addrBits())
	for _, e := range p.exclusions {
		base := addrToU128(e.Addr())
		lo := base.shr(p.shift)
		hi := base.or(ones(width - uint(e.Bits()))).shr(p.shift)
		if hi.less(first) || last.less(lo) {
			continue
		}
		if lo.less(first) {
			lo = first
		}
		if last.less(hi) {
			hi = last
		}
		out = append(out, interval{lo: lo, hi: hi})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lo.less(out[j].lo) })
	merged := out[:0]
	for _, iv := range out {
		if n := len(merged); n > 0 {
			prev := &merged[n-1]
			if !prev.hi.less(iv.lo) || (prev.hi != maxU128 && prev.hi.add1() == iv.lo) {
				if prev.hi.less(iv.hi) {
					prev.hi = iv.hi
				}
				continue
			}
		}
		merged = append(merged, iv)
	}
	return merged
}

// freePieces returns [lo, hi] minus the sorted, merged ranges of excluded, as maximal
// ranges in ascending order.
func freePieces(lo, hi u128, excluded []interval) []interval {
	var out []interval
	cur := lo
	for _, e := range excluded {
		if e.hi.less(cur) {
			continue
		}
		if hi.less(e.lo) {
			break
		}
		if cur.less(e.lo) {
			out = append(out, interval{lo: cur, hi: e.lo.sub1()})
		}
		if !e.hi.less(hi) {
			return out
		}
		cur = e.hi.add1()
	}
	return append(out, interval{lo: cur, hi: hi})
}

// size returns the number of blocks in iv.
func size(iv interval) *big.Int {
	n := iv.hi.sub(iv.lo).big()
	return n.Add(n, big.NewInt(1))
}

// excludedAt returns the excluded range holding block number num; ok is false when num
// overlaps no exclusion.
func (s *span) excludedAt(num u128) (iv interval, ok bool) {
	i := sort.Search(len(s.excluded), func(i int) bool { return !s.excluded[i].hi.less(num) })
	if i < len(s.excluded) && !num.less(s.excluded[i].lo) {
		return s.excluded[i], true
	}
	return interval{}, false
}

// lowestAllocated returns the lowest allocated block number of a span that has one. It
// hops over alternating free runs and excluded ranges, so it costs
// O(exclusions * log(free runs)).
func (s *span) lowestAllocated() u128 {
	x := s.first
	for !s.last.less(x) {
		if n := s.free.find(x); n != nil {
			x = n.iv.hi
		} else if e, ok := s.excludedAt(x); ok {
			x = e.hi
		} else {
			return x
		}
		if x == s.last {
			break
		}
		x = x.add1()
	}
	// Unreachable while allocated > 0; return the first block rather than loop.
	return s.first
}
