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
	"math/rand/v2"
	"testing"
)

// TestFreeSetMatchesModel drives the treap with random takes and adds over a small range
// and compares it with a plain boolean slice after every step.
func TestFreeSetMatchesModel(t *testing.T) {
	const n = 300
	rng := rand.New(rand.NewPCG(1, 2))
	var s freeSet
	s.insert(interval{lo: u128{lo: 0}, hi: u128{lo: n - 1}})
	free := make([]bool, n)
	for i := range free {
		free[i] = true
	}
	for step := range 20000 {
		x := rng.IntN(n)
		num := u128{lo: uint64(x)}
		if got := s.contains(num); got != free[x] {
			t.Fatalf("step %d: contains(%d) = %v, want %v", step, x, got, free[x])
		}
		switch op := rng.IntN(3); {
		case op == 0:
			got, ok := s.takeMin()
			want := -1
			for i, f := range free {
				if f {
					want = i
					break
				}
			}
			if want < 0 {
				if ok {
					t.Fatalf("step %d: takeMin on empty set = %v", step, got)
				}
				break
			}
			if !ok || got != (u128{lo: uint64(want)}) {
				t.Fatalf("step %d: takeMin = %v, %v, want %d", step, got, ok, want)
			}
			free[want] = false
		case free[x]:
			s.take(num)
			free[x] = false
		default:
			s.add(interval{lo: num, hi: num})
			free[x] = true
		}
		if err := checkTreap(s.root, nil, nil); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		// The runs must be exactly the maximal runs of the model.
		var want []interval
		for i := 0; i < n; i++ {
			if !free[i] {
				continue
			}
			j := i
			for j+1 < n && free[j+1] {
				j++
			}
			want = append(want, interval{lo: u128{lo: uint64(i)}, hi: u128{lo: uint64(j)}})
			i = j
		}
		var got []interval
		s.walk(func(iv interval) bool { got = append(got, iv); return true })
		if len(got) != len(want) || len(got) != s.runs {
			t.Fatalf("step %d: runs %v (count %d), want %v", step, got, s.runs, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("step %d: runs %v, want %v", step, got, want)
			}
		}
	}
}

// TestU128 checks the 128-bit helpers at the word boundaries, where carries and shifts
// by 64 or more are easy to get wrong.
func TestU128(t *testing.T) {
	tests := map[string]struct {
		got, want u128
	}{
		"add1 carries into the high word":    {got: u128{lo: ^uint64(0)}.add1(), want: u128{hi: 1}},
		"sub1 borrows from the high word":    {got: u128{hi: 1}.sub1(), want: u128{lo: ^uint64(0)}},
		"sub borrows":                        {got: u128{hi: 1, lo: 0}.sub(u128{lo: 1}), want: u128{lo: ^uint64(0)}},
		"shr by 0 is identity":               {got: u128{hi: 5, lo: 7}.shr(0), want: u128{hi: 5, lo: 7}},
		"shr by 64 moves hi to lo":           {got: u128{hi: 5, lo: 7}.shr(64), want: u128{lo: 5}},
		"shr by 4 crosses words":             {got: u128{hi: 0x1, lo: 0}.shr(4), want: u128{lo: 1 << 60}},
		"shr by 128 is zero":                 {got: maxU128.shr(128), want: u128{}},
		"shl by 4 crosses words":             {got: u128{lo: 1 << 63}.shl(4), want: u128{hi: 8}},
		"shl by 64 moves lo to hi":           {got: u128{lo: 3}.shl(64), want: u128{hi: 3}},
		"shl by 100":                         {got: u128{lo: 1}.shl(100), want: u128{hi: 1 << 36}},
		"shl by 128 is zero":                 {got: u128{lo: 1}.shl(128), want: u128{}},
		"ones(0) is zero":                    {got: ones(0), want: u128{}},
		"ones(64) fills the low word":        {got: ones(64), want: u128{lo: ^uint64(0)}},
		"ones(72) spills into the high word": {got: ones(72), want: u128{hi: 0xff, lo: ^uint64(0)}},
		"ones(128) is the maximum":           {got: ones(128), want: maxU128},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
	if big := maxU128.big(); big.BitLen() != 128 {
		t.Errorf("maxU128.big() has %d bits, want 128", big.BitLen())
	}
}
