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

// interval is an inclusive range [lo, hi] of block numbers, lo <= hi.
type interval struct {
	// lo is the first block number of the range.
	lo u128
	// hi is the last block number of the range, inclusive, so that a range ending at
	// the highest IPv6 block can be written without overflow.
	hi u128
}

// node is one free run in a freeSet: a treap node keyed by iv.lo.
type node struct {
	// iv is the run of free blocks this node stands for.
	iv interval
	// prio is the heap priority that keeps the treap balanced in expectation: a parent's
	// prio is never lower than its children's.
	prio uint64
	// left holds the runs below iv, right the runs above it.
	left, right *node
}

// freeSet is the set of free blocks of one CIDR, kept as maximal runs (no two runs
// overlap or touch) in a treap ordered by the first block of each run. It is the only
// structure whose size depends on the pool's contents, and it holds at most one run
// more than the number of allocated blocks and excluded ranges, whatever the size of
// the CIDR. Every operation is O(log runs) expected.
type freeSet struct {
	// root is the top of the treap; nil when no block is free.
	root *node
	// seq feeds the priority generator, so that priorities are pseudo-random yet the
	// pool behaves the same way on every run.
	seq uint64
	// runs is the number of nodes in the treap.
	runs int
}

// nextPrio returns the next pseudo-random priority (splitmix64).
func (s *freeSet) nextPrio() uint64 {
	s.seq += 0x9e3779b97f4a7c15
	z := s.seq
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// split cuts t into the runs starting below key and the runs starting at or above it.
func split(t *node, key u128) (below, rest *node) {
	if t == nil {
		return nil, nil
	}
	if t.iv.lo.less(key) {
		t.right, rest = split(t.right, key)
		return t, rest
	}
	below, t.left = split(t.left, key)
	return below, t
}

// merge joins two treaps where every run of a starts below every run of b.
func merge(a, b *node) *node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio >= b.prio:
		a.right = merge(a.right, b)
		return a
	}
	b.left = merge(a, b.left)
	return b
}

// insertNode adds n to t; n's run must not overlap any run of t.
func insertNode(t, n *node) *node {
	if t == nil {
		return n
	}
	if n.prio > t.prio {
		n.left, n.right = split(t, n.iv.lo)
		return n
	}
	if n.iv.lo.less(t.iv.lo) {
		t.left = insertNode(t.left, n)
	} else {
		t.right = insertNode(t.right, n)
	}
	return t
}

// deleteKey removes the run starting at key from t, if there is one.
func deleteKey(t *node, key u128) *node {
	if t == nil {
		return nil
	}
	switch c := key.cmp(t.iv.lo); {
	case c < 0:
		t.left = deleteKey(t.left, key)
	case c > 0:
		t.right = deleteKey(t.right, key)
	default:
		return merge(t.left, t.right)
	}
	return t
}

// insert adds the run iv, which must not overlap or touch an existing run.
func (s *freeSet) insert(iv interval) {
	s.root = insertNode(s.root, &node{iv: iv, prio: s.nextPrio()})
	s.runs++
}

// delete removes the run starting at lo, which must exist.
func (s *freeSet) delete(lo u128) {
	s.root = deleteKey(s.root, lo)
	s.runs--
}

// min returns the lowest run, or nil when nothing is free.
func (s *freeSet) min() *node {
	t := s.root
	if t == nil {
		return nil
	}
	for t.left != nil {
		t = t.left
	}
	return t
}

// floor returns the run with the greatest start <= x, or nil.
func (s *freeSet) floor(x u128) *node {
	var best *node
	for t := s.root; t != nil; {
		if x.less(t.iv.lo) {
			t = t.left
		} else {
			best = t
			t = t.right
		}
	}
	return best
}

// find returns the run starting exactly at lo, or nil.
func (s *freeSet) find(lo u128) *node {
	for t := s.root; t != nil; {
		switch c := lo.cmp(t.iv.lo); {
		case c < 0:
			t = t.left
		case c > 0:
			t = t.right
		default:
			return t
		}
	}
	return nil
}

// contains reports whether block x is free.
func (s *freeSet) contains(x u128) bool {
	n := s.floor(x)
	return n != nil && !n.iv.hi.less(x)
}

// takeMin removes the lowest free block and returns it; ok is false when nothing is
// free. The run shrinks in place: its new start is still below every other run, so the
// treap order holds without a rebalance.
func (s *freeSet) takeMin() (x u128, ok bool) {
	n := s.min()
	if n == nil {
		return u128{}, false
	}
	x = n.iv.lo
	if n.iv.lo == n.iv.hi {
		s.delete(x)
	} else {
		n.iv.lo = x.add1()
	}
	return x, true
}

// take removes block x, which must be free.
func (s *freeSet) take(x u128) {
	n := s.floor(x)
	switch {
	case n.iv.lo == x && n.iv.hi == x:
		s.delete(x)
	case n.iv.lo == x:
		// The new start stays below the next run's start: order is preserved.
		n.iv.lo = x.add1()
	case n.iv.hi == x:
		n.iv.hi = x.sub1()
	default:
		rest := interval{lo: x.add1(), hi: n.iv.hi}
		n.iv.hi = x.sub1()
		s.insert(rest)
	}
}

// add marks the blocks of iv free, merging with the runs that touch it so the runs stay
// maximal. No block of iv may be free already.
func (s *freeSet) add(iv interval) {
	var pred, succ *node
	if !iv.lo.isZero() {
		if p := s.floor(iv.lo.sub1()); p != nil && p.iv.hi == iv.lo.sub1() {
			pred = p
		}
	}
	if iv.hi != maxU128 {
		succ = s.find(iv.hi.add1())
	}
	switch {
	case pred != nil && succ != nil:
		hi := succ.iv.hi
		s.delete(succ.iv.lo)
		pred.iv.hi = hi
	case pred != nil:
		pred.iv.hi = iv.hi
	case succ != nil:
		// Nothing starts between iv.lo and succ's old start (those blocks were not
		// free), so moving the key down keeps the order.
		succ.iv.lo = iv.lo
	default:
		s.insert(iv)
	}
}

// walk calls fn for every run in ascending order until fn returns false.
func (s *freeSet) walk(fn func(interval) bool) {
	var rec func(t *node) bool
	rec = func(t *node) bool {
		if t == nil {
			return true
		}
		return rec(t.left) && fn(t.iv) && rec(t.right)
	}
	rec(s.root)
}
