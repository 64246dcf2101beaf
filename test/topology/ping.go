package topology

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
)

// PingDF sends one ICMP echo request carrying size bytes of data from namespace ns to
// to, with fragmentation forbidden (IPv4's DF bit; IPv6 never fragments on the way), and
// waits for the reply: `ping -M do -s size -c 1`. A packet larger than a link on the path
// is dropped, or refused locally when larger than the sender's own MTU (EMSGSIZE).
func PingDF(ns netns.NsHandle, to netip.Addr, size int, timeout time.Duration) error {
	fam, proto, echo, reply := unix.AF_INET, unix.IPPROTO_ICMP, byte(8), byte(0)
	if to.Is6() {
		fam, proto, echo, reply = unix.AF_INET6, unix.IPPROTO_ICMPV6, 128, 129
	}
	var fd int
	err := linux.InNetNS(ns, func() (err error) {
		fd, err = unix.Socket(fam, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		return fmt.Errorf("opening a raw ICMP socket: %w", err)
	}
	defer unix.Close(fd)
	var sa unix.Sockaddr
	if to.Is4() {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
		sa = &unix.SockaddrInet4{Addr: to.As4()}
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO)
		sa = &unix.SockaddrInet6{Addr: to.As16()}
	}
	if err != nil {
		return fmt.Errorf("forbidding fragmentation: %w", err)
	}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}

	id := uint16(time.Now().UnixNano())
	msg := make([]byte, 8+size)
	msg[0] = echo
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], 1)
	for i := 8; i < len(msg); i++ {
		msg[i] = byte(i)
	}
	if to.Is4() { // the kernel computes ICMPv6 checksums itself
		binary.BigEndian.PutUint16(msg[2:], checksum(msg))
	}
	if err := unix.Sendto(fd, msg, 0, sa); err != nil {
		return fmt.Errorf("sending %d bytes to %s with fragmentation forbidden: %w", size, to, err)
	}
	buf := make([]byte, 65536)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			return fmt.Errorf("waiting for the echo reply of %s: %w", to, err)
		}
		b := buf[:n]
		if to.Is4() {
			if len(b) < 20 {
				continue
			}
			b = b[int(b[0]&0x0f)*4:] // a raw IPv4 socket receives the IP header
		}
		if len(b) < 8 || b[0] != reply || binary.BigEndian.Uint16(b[4:]) != id || !sameAddr(from, to) {
			continue
		}
		if len(b) != 8+size {
			return fmt.Errorf("the echo reply of %s holds %d bytes, want %d", to, len(b)-8, size)
		}
		return nil
	}
	return fmt.Errorf("no echo reply from %s to %d bytes with fragmentation forbidden within %s", to, size, timeout)
}

func sameAddr(sa unix.Sockaddr, a netip.Addr) bool {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(s.Addr) == a
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(s.Addr) == a
	}
	return false
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
