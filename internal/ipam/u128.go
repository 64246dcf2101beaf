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
	"encoding/binary"
	"math/big"
	"net/netip"
)

// u128 is an unsigned 128-bit integer. The pool numbers every block by its address
// shifted right by the host bits of a block, and an IPv6 /128 block size needs all 128
// bits; a struct of two words keeps that exact without the allocations of math/big.
type u128 struct {
	// hi holds bits 127..64.
	hi uint64
	// lo holds bits 63..0.
	lo uint64
}

// maxU128 is 2^128-1, the highest block number that can exist.
var maxU128 = u128{hi: ^uint64(0), lo: ^uint64(0)}

// cmp returns -1, 0 or +1 as x is less than, equal to or greater than y.
func (x u128) cmp(y u128) int {
	switch {
	case x.hi < y.hi:
		return -1
	case x.hi > y.hi:
		return 1
	case x.lo < y.lo:
		return -1
	case x.lo > y.lo:
		return 1
	}
	return 0
}

// less reports whether x < y.
func (x u128) less(y u128) bool { return x.cmp(y) < 0 }

// isZero reports whether x == 0.
func (x u128) isZero() bool { return x.hi == 0 && x.lo == 0 }

// add1 returns x+1, wrapping at 2^128; the pool never passes maxU128.
func (x u128) add1() u128 {
	lo := x.lo + 1
	hi := x.hi
	if lo == 0 {
		hi++
	}
	return u128{hi: hi, lo: lo}
}

// sub1 returns x-1, wrapping at 0; callers never pass 0.
func (x u128) sub1() u128 {
	lo := x.lo - 1
	hi := x.hi
	if x.lo == 0 {
		hi--
	}
	return u128{hi: hi, lo: lo}
}

// sub returns x-y, wrapping modulo 2^128.
func (x u128) sub(y u128) u128 {
	lo := x.lo - y.lo
	borrow := uint64(0)
	if x.lo < y.lo {
		borrow = 1
	}
	return u128{hi: x.hi - y.hi - borrow, lo: lo}
}

// or returns x|y.
func (x u128) or(y u128) u128 { return u128{hi: x.hi | y.hi, lo: x.lo | y.lo} }

// shr returns x>>n; n >= 128 gives 0.
func (x u128) shr(n uint) u128 {
	switch {
	case n == 0:
		return x
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{lo: x.hi >> (n - 64)}
	}
	return u128{hi: x.hi >> n, lo: x.lo>>n | x.hi<<(64-n)}
}

// shl returns x<<n; n >= 128 gives 0.
func (x u128) shl(n uint) u128 {
	switch {
	case n == 0:
		return x
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{hi: x.lo << (n - 64)}
	}
	return u128{hi: x.hi<<n | x.lo>>(64-n), lo: x.lo << n}
}

// ones returns 2^n-1, the number with the low n bits set; n >= 128 gives maxU128.
func ones(n uint) u128 {
	if n >= 128 {
		return maxU128
	}
	return maxU128.shr(128 - n)
}

// big returns x as a new big.Int.
func (x u128) big() *big.Int {
	v := new(big.Int).SetUint64(x.hi)
	v.Lsh(v, 64)
	return v.Or(v, new(big.Int).SetUint64(x.lo))
}

// addrToU128 returns the address as an integer: an IPv4 address in the low 32 bits, an
// IPv6 address in all 128.
func addrToU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

// u128ToAddr is the inverse of addrToU128 for the given family.
func u128ToAddr(x u128, f Family) netip.Addr {
	if f == FamilyIPv4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(x.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}
