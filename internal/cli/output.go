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
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/overlaynet/overlaynet/internal/plan"
)

func writeJSON(w io.Writer, p *plan.Plan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeTable prints a plan for a reader: the pod address space, the node subnets, then the
// totals and what bounds them.
func writeTable(w io.Writer, p *plan.Plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Mode:\t%s\n", p.Mode)
	fmt.Fprintf(tw, "Max pods per node:\t%d\n", p.MaxPodsPerNode)
	if p.RouteLimit > 0 {
		fmt.Fprintf(tw, "Route table:\t%s routes, one per node (R31)\n", num(p.RouteLimit))
	}
	tw.Flush()

	if len(p.Families) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		header := "FAMILY\tPOD CIDRS\tBLOCK\tADDRESSES/BLOCK\tBLOCKS"
		if p.Headroom != nil {
			header += "\tFREE BLOCKS"
		}
		fmt.Fprintln(tw, header)
		for _, f := range p.Families {
			fmt.Fprintf(tw, "%s\t%s\t/%d\t%s\t%s", f.Family, strings.Join(f.CIDRs, ","), f.BlockPrefixLength,
				thousands(f.AddressesPerBlock.String()), thousands(f.Blocks.String()))
			if f.FreeBlocks != nil {
				fmt.Fprintf(tw, "\t%s", thousands(f.FreeBlocks.String()))
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE SUBNET\tPOOLS\tADDRESSES\tUSABLE\tADDRESSES/NODE\tMAX PODS/NODE\tNODES")
	for _, s := range p.Subnets {
		pools := "(VNet)"
		if len(s.Pools) > 0 {
			pools = strings.Join(s.Pools, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.CIDR, pools, thousands(s.Addresses.String()), thousands(s.Usable.String()),
			s.AddressesPerNode, s.MaxPodsPerNode, num(s.MaxNodes))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Nodes that fit:\t%s (bounded by the %s)\n", num(p.MaxNodes), p.LimitedBy)
	fmt.Fprintf(tw, "Pods that fit:\t%s\n", num(p.MaxPods))
	fmt.Fprintf(tw, "With room for upgrades:\t%s nodes, %s pods\n", span(p.NodesWithUpgradeRoom), span(p.PodsWithUpgradeRoom))
	if h := p.Headroom; h != nil {
		fmt.Fprintf(tw, "Headroom for %s nodes:\t%s nodes, %s pods\n", num(h.Nodes), num(h.FreeNodes), num(h.FreePods))
	}
	tw.Flush()

	if len(p.Notes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Notes:")
		for _, n := range p.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	return nil
}

// span prints a range as "20–25", or "6" when it holds one value.
func span(r plan.Range) string {
	if r.Min == r.Max {
		return num(r.Min)
	}
	return num(r.Min) + "–" + num(r.Max)
}

func num(n int64) string { return thousands(strconv.FormatInt(n, 10)) }

// thousands groups the digits of a decimal integer by three: 27610 → 27,610.
func thousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	if len(s) <= 3 {
		return sign + s
	}
	var b strings.Builder
	head := len(s) % 3
	if head > 0 {
		b.WriteString(s[:head])
	}
	for i := head; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return sign + b.String()
}
