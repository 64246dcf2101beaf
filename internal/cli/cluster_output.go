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

package cli

import (
	"fmt"
	"io"
	"math/big"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

// clusterConditions are the OverlayCluster's conditions, in the order status prints them.
var clusterConditions = []string{v1.ClusterReady, v1.ClusterConfigValid, v1.ClusterPodCIDRAvailable, v1.ClusterMigrating}

// WriteStatus prints the cluster at a glance: its conditions, the address space of each
// family as a bar (used, free, waiting nodes, time to exhaustion at the growth rate of
// the last window), the migration's progress and the Allocated/Programmed node counts.
func WriteStatus(w io.Writer, snap *Snapshot, now time.Time, window time.Duration) {
	c := snap.counts()
	ovc := snap.Cluster
	if ovc == nil {
		fmt.Fprintf(w, "No OverlayCluster named default: no node gets a pod CIDR until one exists (%d nodes).\n", c.nodes)
		fmt.Fprintf(w, "Check a plan offline with `kubectl overlaynet validate -f FILE`, then apply it.\n")
		return
	}
	mode := ovc.Status.Mode
	if mode == "" {
		mode = ovc.Spec.Mode
	}
	fmt.Fprintf(w, "OverlayCluster %s: %s mode, families %s\n\n", ovc.Name, mode, families(ovc))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range clusterConditions {
		cond := meta.FindStatusCondition(ovc.Status.Conditions, t)
		if cond == nil {
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s: %s\n", t, cond.Status, cond.Reason, oneLine(cond.Message))
	}
	_ = tw.Flush()

	g := snap.growth(now, window)
	fmt.Fprintf(w, "\nAddress space (growth: %d %s joined in the last %s, %s)\n", g.Joined, plural(g.Joined, "node", "nodes"), humanDuration(window), rate(g))
	if len(ovc.Status.Pools) == 0 {
		if mode == v1.ModeNodeSubnet {
			fmt.Fprintf(w, "  NodeSubnet mode: pods take addresses from the node subnets (see `kubectl overlaynet nodes`)\n")
		} else {
			fmt.Fprintf(w, "  no pool reported yet\n")
		}
	}
	for _, p := range ovc.Status.Pools {
		writePool(w, p, c.waiting, g)
	}

	fmt.Fprintf(w, "\nNodes: %d   Allocated: %d   Programmed: %d   Waiting for address space: %d\n",
		c.nodes, c.allocated, c.programmed, c.waiting)
	writeMigration(w, snap, ovc)
}

// writePool draws one family's pool.
func writePool(w io.Writer, p v1.PoolStatus, waiting int, g Growth) {
	total, free := parseCount(p.TotalBlocks), parseCount(p.FreeBlocks)
	used := big.NewInt(p.AllocatedBlocks)
	fmt.Fprintf(w, "  %-4s  %s  %s used\n", p.Family, bar(used, total), percent(used, total))
	fmt.Fprintf(w, "        %s in /%d blocks: %d used, %s free of %s\n", strings.Join(p.CIDRs, ", "), p.BlockPrefixLength, p.AllocatedBlocks, p.FreeBlocks, p.TotalBlocks)
	switch {
	case free != nil && free.Sign() == 0:
		fmt.Fprintf(w, "        EXHAUSTED: %d %s waiting; append to spec.additionalPodCIDRs or widen spec.podCIDRs (B1)\n", waiting, plural(waiting, "node", "nodes"))
	default:
		if d, ok := TimeToExhaustion(free, g); ok {
			fmt.Fprintf(w, "        exhausted in about %s at the recent growth rate\n", humanDuration(d))
		} else {
			fmt.Fprintf(w, "        not exhausted within a century at the recent growth rate\n")
		}
	}
}

// writeMigration prints a running migration's progress.
func writeMigration(w io.Writer, snap *Snapshot, ovc *v1.OverlayCluster) {
	cond := meta.FindStatusCondition(ovc.Status.Conditions, v1.ClusterMigrating)
	from, to := ovc.Status.Mode, ovc.Spec.Mode
	if (cond == nil || cond.Status != metav1.ConditionTrue) && (from == "" || from == to) {
		fmt.Fprintf(w, "Migration: none running\n")
		return
	}
	done, all := 0, 0
	for _, s := range snap.states() {
		all++
		if s.migrated(to) {
			done++
		}
	}
	fmt.Fprintf(w, "Migration: %s → %s  %s  %d of %d nodes allocated and programmed in %s mode\n",
		from, to, bar(big.NewInt(int64(done)), big.NewInt(int64(max(all, 1)))), done, all, to)
}

// WriteNodes prints one line per Node: mode, blocks (or reserved addresses), node IPs,
// max pods and the two conditions.
func WriteNodes(w io.Writer, snap *Snapshot) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tMODE\tBLOCKS\tNODE IPS\tMAX PODS\tALLOCATED\tPROGRAMMED")
	for _, s := range snap.states() {
		if s.nnc == nil {
			why := "no NodeNetworkConfig yet"
			if s.stale {
				why = "NodeNetworkConfig of an older Node of this name"
			}
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\t-\n", s.node.Name, why)
			continue
		}
		st := s.nnc.Spec
		blocks := strings.Join(st.PodCIDRs, ",")
		if len(st.ReservedIPs) > 0 {
			blocks = fmt.Sprintf("%d reserved in %s", reservedCount(st.ReservedIPs), st.NodeSubnet)
		}
		maxPods := "-"
		if st.MaxPods > 0 {
			maxPods = fmt.Sprint(st.MaxPods)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.node.Name, orDash(string(st.Mode)), orDash(blocks),
			orDash(strings.Join(st.NodeIPs, ",")), maxPods,
			conditionCell(s.nnc, v1.NodeAllocated), conditionCell(s.nnc, v1.NodeProgrammed))
	}
	_ = tw.Flush()
}

// conditionCell is "True", "False (Reason)", "Stale (generation 3 of 4)" or "-".
func conditionCell(nnc *v1.NodeNetworkConfig, t string) string {
	c := meta.FindStatusCondition(nnc.Status.Conditions, t)
	switch {
	case c == nil && t == v1.NodeAllocated && nnc.HoldsAllocation():
		return "True" // allocated at once: the spec says it, no condition was needed (B8)
	case c == nil:
		return "-"
	case t == v1.NodeProgrammed && c.Status == metav1.ConditionTrue && c.ObservedGeneration < nnc.Generation:
		return fmt.Sprintf("Stale (generation %d of %d)", c.ObservedGeneration, nnc.Generation)
	case c.Status == metav1.ConditionTrue:
		return "True"
	default:
		return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
	}
}

// reservedCount counts the addresses of reservedIPs entries: CIDRs and first-last ranges.
func reservedCount(entries []string) int {
	n := 0
	for _, e := range entries {
		if r, err := parseRange(e); err == nil {
			n += r
		}
	}
	return n
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine makes a condition message safe to print on one terminal line: whitespace runs
// become one space and other control or non-printable characters are escaped, since a
// message is free text that an agent on a compromised node could fill with terminal
// escape sequences aimed at whoever runs the plugin.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if strings.IndexFunc(s, notPrintable) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if notPrintable(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func notPrintable(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) }

func families(ovc *v1.OverlayCluster) string {
	fs := ovc.Spec.IPFamilies
	if len(fs) == 0 {
		return string(v1.IPv4)
	}
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, " + ")
}

func rate(g Growth) string {
	r := g.PerHour()
	switch {
	case r == 0:
		return "no growth"
	case r < 1:
		return fmt.Sprintf("%.2f nodes/hour", r)
	default:
		return fmt.Sprintf("%.1f nodes/hour", r)
	}
}
