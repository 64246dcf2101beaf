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

// Package ipam is the pure block allocator of overlaynet: it cuts the cluster's pod
// CIDRs into fixed-size blocks, one per node (a /24 per node from the IPv4 pod CIDR,
// R10; a /120 from the IPv6 one, R11; any size that fits, B2), and never hands out a
// block twice (B4). It knows nothing of Kubernetes, logs nothing and exports no metrics:
// the controller decides, this package counts.
//
// # Model
//
// A Pool holds the CIDRs of one IP family in pool order, a block size and a list of
// exclusions (ranges such as a service CIDR that must never be handed out). Every
// block is named by its block number, the block's address shifted right by its host
// bits, held in an unsigned 128-bit integer so that any IPv6 block size is exact.
// Numbers are absolute, not relative to a CIDR, so growing a CIDR (Widen) or adding one
// (AddCIDR) moves no existing block (B1).
//
// Per CIDR, each block is excluded, free or allocated:
//   - excluded blocks are a short sorted list of ranges, computed from the exclusions
//     when the CIDR enters the pool or is widened;
//   - free blocks are kept as maximal runs [lo, hi] in a treap ordered by lo;
//   - allocated blocks are everything else, and only their count is stored.
//
// The lowest free block of a CIDR is the start of its first run, so AllocateNext takes
// the first run's first block; Occupy splits the run holding the block; Release adds
// a one-block run and merges it with the runs that touch it. Nothing is ever scanned.
//
// # Complexity
//
// With n allocated blocks, c CIDRs and e exclusions:
//   - memory is O(n + c*e): at most one free run per gap between allocated or excluded
//     blocks, whatever the size of the CIDRs (a /64 cut into /120s, 2^56 blocks, starts
//     as one run);
//   - AllocateNext, Occupy, Release and IsAllocated are O(c + log(n + e)) expected time,
//     and sequential allocation from a fresh CIDR allocates no memory;
//   - AddCIDR and Widen are O(c + e log(e + n)); RemoveCIDR is O(c + e log n);
//     Usage is O(c*e) with exact big integer counts.
//
// c and e are a handful in practice (the pod CIDRs, the service CIDRs), so every verb
// is logarithmic in the number of nodes.
//
// # Failure policy
//
// Every verb is all-or-nothing and reports failure with an error that names the pool
// and the block or CIDR and wraps one of the package's sentinel errors (ErrExhausted,
// ErrInUse, ...); see Pool for the policy itself.
package ipam
