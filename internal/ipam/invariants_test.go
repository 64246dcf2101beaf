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
	"fmt"
	"math/big"
	"slices"
)

// check verifies the internal invariants of the pool that the exported API cannot see:
// the spans match their CIDRs and do not overlap, the excluded ranges match the
// exclusions, the treaps are well-formed, the free runs are maximal, in range and clear
// of the exclusions, and excluded + free + allocated add up to the size of each CIDR.
func (p *Pool) check() error {
	for i, s := range p.spans {
		first, last := p.blockRange(s.cidr)
		if s.first != first || s.last != last {
			return fmt.Errorf("span %s: range [%v, %v], want [%v, %v]", s.cidr, s.first, s.last, first, last)
		}
		for _, o := range p.spans[:i] {
			if o.cidr.Overlaps(s.cidr) {
				return fmt.Errorf("spans %s and %s overlap", o.cidr, s.cidr)
			}
		}
		want := p.excludedIn(first, last)
		if !slices.Equal(want, s.excluded) {
			return fmt.Errorf("span %s: excluded %v, want %v", s.cidr, s.excluded, want)
		}
		excludedCount := new(big.Int)
		for j, iv := range s.excluded {
			if iv.hi.less(iv.lo) || iv.lo.less(first) || last.less(iv.hi) {
				return fmt.Errorf("span %s: excluded range %v out of order or range", s.cidr, iv)
			}
			if j > 0 && !s.excluded[j-1].hi.add1().less(iv.lo) {
				return fmt.Errorf("span %s: excluded ranges %v and %v touch", s.cidr, s.excluded[j-1], iv)
			}
			excludedCount.Add(excludedCount, size(iv))
		}
		if err := checkTreap(s.free.root, nil, nil); err != nil {
			return fmt.Errorf("span %s: %w", s.cidr, err)
		}
		freeCount := new(big.Int)
		runs := 0
		var prev *interval
		var walkErr error
		s.free.walk(func(iv interval) bool {
			runs++
			switch {
			case iv.hi.less(iv.lo) || iv.lo.less(first) || last.less(iv.hi):
				walkErr = fmt.Errorf("free run %v outside [%v, %v]", iv, first, last)
			case prev != nil && !prev.hi.add1().less(iv.lo):
				walkErr = fmt.Errorf("free runs %v and %v overlap or touch", *prev, iv)
			}
			for _, e := range s.excluded {
				if !iv.hi.less(e.lo) && !e.hi.less(iv.lo) {
					walkErr = fmt.Errorf("free run %v overlaps excluded %v", iv, e)
				}
			}
			freeCount.Add(freeCount, size(iv))
			prev = &iv
			return walkErr == nil
		})
		if walkErr != nil {
			return fmt.Errorf("span %s: %w", s.cidr, walkErr)
		}
		if runs != s.free.runs {
			return fmt.Errorf("span %s: %d runs counted, %d walked", s.cidr, s.free.runs, runs)
		}
		total := size(interval{lo: first, hi: last})
		sum := new(big.Int).Add(excludedCount, freeCount)
		sum.Add(sum, new(big.Int).SetUint64(s.allocated))
		if sum.Cmp(total) != 0 {
			return fmt.Errorf("span %s: excluded %v + free %v + allocated %d != %v blocks",
				s.cidr, excludedCount, freeCount, s.allocated, total)
		}
	}
	return nil
}

// checkTreap verifies the search-tree order (every start within (lo, hi)) and the heap
// order of priorities below t.
func checkTreap(t *node, lo, hi *u128) error {
	if t == nil {
		return nil
	}
	if (lo != nil && !lo.less(t.iv.lo)) || (hi != nil && !t.iv.lo.less(*hi)) {
		return fmt.Errorf("treap order broken at %v", t.iv)
	}
	for _, c := range []*node{t.left, t.right} {
		if c != nil && c.prio > t.prio {
			return fmt.Errorf("treap heap order broken at %v", t.iv)
		}
	}
	if err := checkTreap(t.left, lo, &t.iv.lo); err != nil {
		return err
	}
	return checkTreap(t.right, &t.iv.lo, hi)
}

// String renders a block number in decimal for failure messages.
func (x u128) String() string { return x.big().String() }

// String renders a range of block numbers for failure messages.
func (iv interval) String() string { return fmt.Sprintf("[%v, %v]", iv.lo, iv.hi) }
