package topology

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
)

// EchoPort is the TCP port of the echo servers.
const EchoPort = 7777

// EchoServer answers every TCP connection with the address it sees the connection come
// from, then closes it: the receiver's view of source addresses, NAT included.
type EchoServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

// Serve starts an echo server on every address of namespace ns, port EchoPort. The
// listening socket is created inside ns and stays there; the accept loop runs anywhere.
func Serve(ns netns.NsHandle) (*EchoServer, error) {
	s := &EchoServer{}
	err := linux.InNetNS(ns, func() error {
		var err error
		s.ln, err = net.Listen("tcp", fmt.Sprintf(":%d", EchoPort))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("starting the echo server: %w", err)
	}
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			from, _ := netip.ParseAddrPort(c.RemoteAddr().String())
			_, _ = fmt.Fprintf(c, "seen %s\n", from.Addr().Unmap())
			_ = c.Close()
		}
	})
	return s, nil
}

// Close stops the server and releases its socket (and with it its hold on the namespace).
func (s *EchoServer) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// Probe connects from namespace ns to the echo server at to and returns the source
// address the server saw. It gives up after timeout.
func Probe(ctx context.Context, ns netns.NsHandle, to netip.Addr, timeout time.Duration) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var c net.Conn
	target := netip.AddrPortFrom(to, EchoPort).String()
	err := linux.InNetNS(ns, func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", target)
		return err
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("connecting to %s: %w", target, err)
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return netip.Addr{}, fmt.Errorf("reading from %s: %w", target, err)
	}
	seen, ok := strings.CutPrefix(strings.TrimSpace(line), "seen ")
	if !ok {
		return netip.Addr{}, fmt.Errorf("unexpected answer %q from %s", line, target)
	}
	return netip.ParseAddr(seen)
}

// IsUnreachable reports whether a Probe error means the connection attempt got no answer
// or found no route, as opposed to reaching a host that refused it.
func IsUnreachable(err error) bool {
	if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	var ne net.Error
	return errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
