// Command echo is the real-node tests' workload: a static binary that answers every TCP
// connection on :7777 with "seen <source address>" (the protocol of test/topology's echo
// servers, so topology.Probe works against pods) and every HTTP request on :8080 with the
// same line, and exits at once on SIGTERM (a PID 1 that ignores it makes every delete wait
// out the grace period).
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func seen(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return "seen ?\n"
	}
	return fmt.Sprintf("seen %s\n", ap.Addr().Unmap())
}

func main() {
	ln, err := net.Listen("tcp", ":7777")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write([]byte(seen(c.RemoteAddr().String())))
			_ = c.Close()
		}
	}()
	go func() {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _ := os.Hostname()
			fmt.Fprintf(w, "%s", seen(r.RemoteAddr))
			fmt.Fprintf(w, "pod %s\n", host)
		})
		_ = (&http.Server{Addr: ":8080", Handler: h, ReadHeaderTimeout: 5 * time.Second}).ListenAndServe()
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
