package linux_test

import (
	"context"
	"testing"
)

// benchPeers is the peer count of R13's 5,000 nodes, less this one.
const benchPeers = 5000

// BenchmarkProgramPeersFromEmpty measures the time to program 5,000 peer routes, the SNAT
// table and the 5,000-element node-IP set into a fresh namespace: an agent's cold start on a
// node of a full-size cluster (R13). Namespace set-up is not timed.
func BenchmarkProgramPeersFromEmpty(b *testing.B) {
	requireRoot(b)
	for _, dual := range []bool{false, true} {
		b.Run(familyName(dual), func(b *testing.B) {
			dp := datapathFor(peers(benchPeers, dual), dual)
			for b.Loop() {
				b.StopTimer()
				ns, nl := nodeNS(b)
				be := newBackend(b, ns)
				b.StartTimer()
				st, err := be.Apply(context.Background(), dp, true)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if st.Routes != len(dp.Routes) {
					b.Fatalf("programmed %d routes, want %d", st.Routes, len(dp.Routes))
				}
				_ = be.Close()
				nl.Close()
				_ = ns.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(len(dp.Routes)), "routes")
		})
	}
}

// BenchmarkOneChangeWith5000Present measures an incremental apply when one peer joins or
// leaves a node that already routes to 5,000: one route and one set element.
func BenchmarkOneChangeWith5000Present(b *testing.B) {
	requireRoot(b)
	for _, dual := range []bool{false, true} {
		b.Run(familyName(dual), func(b *testing.B) {
			all := peers(benchPeers+1, dual)
			perPeer := 1
			if dual {
				perPeer = 2
			}
			with, without := datapathFor(all, dual), datapathFor(all[:len(all)-perPeer], dual)
			ns, _ := nodeNS(b)
			be := newBackend(b, ns)
			ctx := context.Background()
			if _, err := be.Apply(ctx, without, true); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				dp := with
				if i%2 == 1 {
					dp = without
				}
				i++
				st, err := be.Apply(ctx, dp, false)
				if err != nil {
					b.Fatal(err)
				}
				if changes := st.RoutesAdded + st.RoutesRemoved; changes != perPeer || st.TableWritten {
					b.Fatalf("one peer changed %d routes (table written: %v), want %d", changes, st.TableWritten, perPeer)
				}
			}
		})
	}
}

// BenchmarkOneDeltaWith5000Present measures what the agent now hands the backend when one
// peer joins or leaves a node that already routes to 5,000: the change alone (ApplyDelta),
// one route and one set element, without a diff over the 5,000 (B8).
func BenchmarkOneDeltaWith5000Present(b *testing.B) {
	requireRoot(b)
	all := peers(benchPeers+1, false)
	with, without := datapathFor(all, false), datapathFor(all[:len(all)-1], false)
	join, leave := deltaOf(without, with), deltaOf(with, without)
	ns, _ := nodeNS(b)
	be := newBackend(b, ns)
	ctx := context.Background()
	if _, err := be.Apply(ctx, without, true); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		d := join
		if i%2 == 1 {
			d = leave
		}
		i++
		st, err := be.ApplyDelta(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		if changes := st.RoutesAdded + st.RoutesRemoved; changes != 1 || st.NodeIPsChanged != 1 {
			b.Fatalf("one peer changed %d routes and %d node IPs, want 1 and 1", changes, st.NodeIPsChanged)
		}
	}
}

// BenchmarkFullResyncWith5000Present measures the slow-timer resync that repairs drift: read
// 5,000 routes back, find nothing to change, rewrite the table.
func BenchmarkFullResyncWith5000Present(b *testing.B) {
	requireRoot(b)
	dp := datapathFor(peers(benchPeers, false), false)
	ns, _ := nodeNS(b)
	be := newBackend(b, ns)
	ctx := context.Background()
	if _, err := be.Apply(ctx, dp, true); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		st, err := be.Apply(ctx, dp, true)
		if err != nil {
			b.Fatal(err)
		}
		if st.RoutesAdded+st.RoutesRemoved+st.RoutesReplaced != 0 {
			b.Fatalf("a resync without drift changed routes: %+v", st)
		}
	}
}

func familyName(dual bool) string {
	if dual {
		return "dual-stack"
	}
	return "IPv4"
}
