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
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

// Snapshot is what the cluster commands read from the API server: the OverlayCluster, the
// Nodes and their NodeNetworkConfigs. Everything the commands print is computed from it by
// pure functions, so they are unit tested without an API server.
type Snapshot struct {
	// Cluster is the OverlayCluster named default, nil when there is none.
	Cluster *v1.OverlayCluster
	// Nodes are the cluster's Nodes, sorted by name.
	Nodes []corev1.Node
	// NNCs are the NodeNetworkConfigs by name (the name of their Node).
	NNCs map[string]*v1.NodeNetworkConfig
}

// nodeState is one Node as the commands see it.
type nodeState struct {
	node *corev1.Node
	// nnc is the Node's NNC, nil when there is none or it belongs to another incarnation
	// of a Node with the same name (another UID).
	nnc *v1.NodeNetworkConfig
	// stale is true when an NNC of the Node's name exists but is bound to another UID.
	stale bool
}

// allocated is true when the manager gave the node its blocks or addresses.
func (s nodeState) allocated() bool {
	return s.nnc != nil && s.nnc.IsAllocated()
}

// programmed is true when the agent programmed the NNC's current generation.
func (s nodeState) programmed() bool {
	if s.nnc == nil {
		return false
	}
	c := meta.FindStatusCondition(s.nnc.Status.Conditions, v1.NodeProgrammed)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration >= s.nnc.Generation
}

// waiting is true when the node waits for address space (its Allocated reason says so).
func (s nodeState) waiting() bool {
	if s.nnc == nil {
		return false
	}
	c := meta.FindStatusCondition(s.nnc.Status.Conditions, v1.NodeAllocated)
	return c != nil && c.Status == metav1.ConditionFalse &&
		slices.Contains([]string{v1.ReasonPoolExhausted, v1.ReasonRouteLimit, v1.ReasonSubnetExhausted}, c.Reason)
}

// migrated is true when the node runs in mode: allocated and programmed for it. The
// manager's migration tracking counts the same.
func (s nodeState) migrated(mode v1.NetworkMode) bool {
	return s.nnc != nil && s.nnc.Spec.Mode == mode && s.allocated() && s.programmed()
}

// states pairs every Node with its NNC.
func (snap *Snapshot) states() []nodeState {
	out := make([]nodeState, 0, len(snap.Nodes))
	for i := range snap.Nodes {
		n := &snap.Nodes[i]
		st := nodeState{node: n}
		if nnc := snap.NNCs[n.Name]; nnc != nil {
			if nnc.Spec.NodeUID == string(n.UID) {
				st.nnc = nnc
			} else {
				st.stale = true
			}
		}
		out = append(out, st)
	}
	return out
}

// counts are the node counts status prints.
type counts struct {
	nodes, allocated, programmed, waiting int
}

func (snap *Snapshot) counts() counts {
	var c counts
	for _, s := range snap.states() {
		c.nodes++
		if s.allocated() {
			c.allocated++
		}
		if s.programmed() {
			c.programmed++
		}
		if s.waiting() {
			c.waiting++
		}
	}
	return c
}

// Growth is the recent rate at which nodes joined, the basis of the time to exhaustion.
type Growth struct {
	// Window is how far back the rate looks.
	Window time.Duration
	// Joined is the number of NodeNetworkConfigs created within the window. Each is one
	// node that took (or waits for) one block per family; nodes that joined and left
	// within the window are not counted, so the rate is the net growth.
	Joined int
}

// PerHour is the growth rate in nodes per hour.
func (g Growth) PerHour() float64 {
	if g.Window <= 0 {
		return 0
	}
	return float64(g.Joined) / g.Window.Hours()
}

// growth counts the NNCs created within window before now.
func (snap *Snapshot) growth(now time.Time, window time.Duration) Growth {
	g := Growth{Window: window}
	for _, nnc := range snap.NNCs {
		if t := nnc.CreationTimestamp.Time; !t.IsZero() && !t.Before(now.Add(-window)) && !t.After(now) {
			g.Joined++
		}
	}
	return g
}

// maxExhaustion is the horizon past which a time to exhaustion is not worth a number.
const maxExhaustion = 100 * 365 * 24 * time.Hour

// TimeToExhaustion returns how long free blocks last at the growth rate; ok is false when
// they last forever at this rate (no growth) or longer than a century.
func TimeToExhaustion(free *big.Int, g Growth) (time.Duration, bool) {
	rate := g.PerHour()
	if rate <= 0 || free == nil {
		return 0, false
	}
	hours, _ := new(big.Float).Quo(new(big.Float).SetInt(free), big.NewFloat(rate)).Float64()
	if math.IsInf(hours, 0) || hours*float64(time.Hour) > float64(maxExhaustion) {
		return 0, false
	}
	return time.Duration(hours * float64(time.Hour)), true
}

// humanDuration prints a duration in its two largest units: 3d4h, 5h12m, 40m, 30s.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	s := (d - m*time.Minute) / time.Second
	switch {
	case days >= 365:
		return fmt.Sprintf("%.1f years", float64(days)/365)
	case days > 0 && h == 0:
		return fmt.Sprintf("%dd", days)
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case h > 0 && m == 0:
		return fmt.Sprintf("%dh", h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm", m)
	default:
		return fmt.Sprintf("%ds", s)
	}
}

// barWidth is the width of the pictures, in cells.
const barWidth = 40

// bar draws used of total as a bar of barWidth cells: █ used, ░ free. A used share that
// is not zero takes at least one cell, and one that is not all at most barWidth-1.
func bar(used, total *big.Int) string {
	if total == nil || total.Sign() <= 0 {
		return "[" + strings.Repeat("?", barWidth) + "]"
	}
	cells := new(big.Int).Div(new(big.Int).Mul(used, big.NewInt(barWidth)), total).Int64()
	if used.Sign() > 0 && cells == 0 {
		cells = 1
	}
	if used.Cmp(total) < 0 && cells == barWidth {
		cells = barWidth - 1
	}
	cells = max(0, min(cells, barWidth))
	return "[" + strings.Repeat("█", int(cells)) + strings.Repeat("░", barWidth-int(cells)) + "]"
}

// percent prints used/total as a percentage, with one decimal below 1%.
func percent(used, total *big.Int) string {
	if total == nil || total.Sign() <= 0 {
		return "?"
	}
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(used), new(big.Float).SetInt(total)).Float64()
	f *= 100
	switch {
	case f == 0:
		return "0%"
	case f < 0.1:
		return "<0.1%"
	case f < 1:
		return fmt.Sprintf("%.1f%%", f)
	default:
		return fmt.Sprintf("%.0f%%", math.Floor(f))
	}
}

// parseCount parses a decimal block count from the status ("18446744073709551616").
func parseCount(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil
	}
	return n
}
