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
	"net/netip"
	"testing"
)

// Every benchmark here times a whole batch per op (5,000 or 65,536 blocks: the node
// counts of R13 and of a /8 cut into /24s) against a fresh or prepared pool whose setup
// is not timed, so ns/op, B/op and allocs/op are the cost of the batch; the ns/block
// metric divides ns/op by the batch size.

// reportPerBlock adds the ns/block metric for a batch of n blocks per op.
func reportPerBlock(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/block")
}

// newBenchPool returns an empty pool or fails the benchmark.
func newBenchPool(b *testing.B, cidr string, blockBits int) *Pool {
	b.Helper()
	p, err := NewPool("bench", []netip.Prefix{netip.MustParsePrefix(cidr)}, blockBits, nil)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchAllocate allocates n blocks per op from a fresh pool over cidr.
func benchAllocate(b *testing.B, cidr string, blockBits, n int) {
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		p := newBenchPool(b, cidr, blockBits)
		b.StartTimer()
		for range n {
			if _, err := p.AllocateNext(); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportPerBlock(b, n)
}

// BenchmarkAllocate5000 allocates 5,000 /24s (R13's 5,000 nodes) from an empty /8.
func BenchmarkAllocate5000(b *testing.B) { benchAllocate(b, "10.0.0.0/8", 24, 5000) }

// BenchmarkAllocate65536 allocates every /24 of an empty /8, to exhaustion.
func BenchmarkAllocate65536(b *testing.B) { benchAllocate(b, "10.0.0.0/8", 24, 65536) }

// BenchmarkAllocateIPv6 allocates 5,000 /120s from an empty /64 (R11), 2^56 blocks.
func BenchmarkAllocateIPv6(b *testing.B) { benchAllocate(b, "fd12:3456:789a::/64", 120, 5000) }

// BenchmarkOccupy5000 replays 5,000 recorded /24s into an empty /8, the restart path.
// The blocks come in a shuffled order, as a list of NodeNetworkConfigs sorted by name
// has nothing to do with address order, and each one splits a free run.
func BenchmarkOccupy5000(b *testing.B) {
	const n = 5000
	blocks := make([]netip.Prefix, n)
	for i := range blocks {
		blocks[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	rng.Shuffle(n, func(i, j int) { blocks[i], blocks[j] = blocks[j], blocks[i] })
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		p := newBenchPool(b, "10.0.0.0/8", 24)
		b.StartTimer()
		for _, blk := range blocks {
			if err := p.Occupy(blk); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportPerBlock(b, n)
}

// BenchmarkAllocateAfterReleaseFragmented fills a /8 with 65,536 /24s and releases every
// other one; each op then allocates the 32,768 holes, lowest first, from a free set of
// 32,768 one-block runs. Releasing them again between ops is not timed.
func BenchmarkAllocateAfterReleaseFragmented(b *testing.B) {
	const total = 65536
	p := newBenchPool(b, "10.0.0.0/8", 24)
	for range total {
		if _, err := p.AllocateNext(); err != nil {
			b.Fatal(err)
		}
	}
	var holes []netip.Prefix
	for i := 0; i < total; i += 2 {
		holes = append(holes, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
	}
	release := func() {
		for _, h := range holes {
			if err := p.Release(h); err != nil {
				b.Fatal(err)
			}
		}
	}
	release()
	b.ReportAllocs()
	for b.Loop() {
		for _, want := range holes {
			got, err := p.AllocateNext()
			if err != nil || got != want {
				b.Fatalf("AllocateNext() = %v, %v; want %v", got, err, want)
			}
		}
		b.StopTimer()
		release()
		b.StartTimer()
	}
	reportPerBlock(b, len(holes))
}
