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
	"bytes"
	"fmt"
	"math/big"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestTimeToExhaustion(t *testing.T) {
	tests := map[string]struct {
		free   *big.Int
		growth Growth
		want   time.Duration
		wantOK bool
	}{
		"B3 12 nodes in 24h leave 100 free blocks for 200 hours":        {big.NewInt(100), Growth{24 * time.Hour, 12}, 200 * time.Hour, true},
		"B3 no growth never exhausts":                                   {big.NewInt(100), Growth{24 * time.Hour, 0}, 0, false},
		"B3 an IPv6 pool of 2^56 free blocks lasts more than a century": {new(big.Int).Lsh(big.NewInt(1), 56), Growth{time.Hour, 1000}, 0, false},
		"B3 zero free blocks are exhausted now":                         {big.NewInt(0), Growth{time.Hour, 1}, 0, true},
		"a zero window has no rate":                                     {big.NewInt(10), Growth{0, 5}, 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := TimeToExhaustion(tc.free, tc.growth)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("TimeToExhaustion = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestBarAndPercent(t *testing.T) {
	tests := map[string]struct {
		used, total int64
		wantCells   int
		wantPercent string
	}{
		"an empty pool draws no used cell":                    {0, 256, 0, "0%"},
		"one block of 2^20 still draws one cell":              {1, 1 << 20, 1, "<0.1%"},
		"half a pool draws half the bar":                      {128, 256, 20, "50%"},
		"a pool one block short of full is not drawn as full": {255, 256, 39, "99%"},
		"a full pool draws every cell":                        {256, 256, 40, "100%"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := bar(big.NewInt(tc.used), big.NewInt(tc.total))
			if got := bytes.Count([]byte(b), []byte("█")); got != tc.wantCells {
				t.Errorf("bar %s has %d used cells, want %d", b, got, tc.wantCells)
			}
			if got := percent(big.NewInt(tc.used), big.NewInt(tc.total)); got != tc.wantPercent {
				t.Errorf("percent = %s, want %s", got, tc.wantPercent)
			}
		})
	}
}

// migratingSnapshot is a dual-stack cluster moving from Kubenet to Overlay: of four nodes,
// two joined within the last day, two have moved.
func migratingSnapshot() *Snapshot {
	snap := &Snapshot{
		Cluster: &v1.OverlayCluster{
			ObjectMeta: metav1.ObjectMeta{Name: v1.ClusterName},
			Spec:       v1.OverlayClusterSpec{Mode: v1.ModeOverlay, IPFamilies: []v1.IPFamily{v1.IPv4, v1.IPv6}},
			Status: v1.OverlayClusterStatus{
				Mode: v1.ModeKubenet,
				Pools: []v1.PoolStatus{
					{Family: v1.IPv4, CIDRs: []string{"10.244.0.0/16"}, BlockPrefixLength: 24, TotalBlocks: "256", AllocatedBlocks: 4, FreeBlocks: "252"},
					{Family: v1.IPv6, CIDRs: []string{"fd00::/56"}, BlockPrefixLength: 72, TotalBlocks: "65536", AllocatedBlocks: 4, FreeBlocks: "65532"},
				},
				Conditions: []metav1.Condition{
					cond(v1.ClusterMigrating, "True", v1.ReasonMigrating, "Kubenet → Overlay: 2 of 4 nodes allocated and programmed", 2),
				},
			},
		},
		NNCs: map[string]*v1.NodeNetworkConfig{},
	}
	for i, age := range []time.Duration{72 * time.Hour, 30 * time.Hour, 20 * time.Hour, time.Hour} {
		name := fmt.Sprintf("node-%d", i)
		uid := types.UID("uid-" + name)
		snap.Nodes = append(snap.Nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: uid}})
		mode := v1.ModeKubenet
		if i < 2 {
			mode = v1.ModeOverlay
		}
		snap.NNCs[name] = &v1.NodeNetworkConfig{
			ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 2, CreationTimestamp: metav1.NewTime(now.Add(-age))},
			Spec:       v1.NodeNetworkConfigSpec{NodeUID: string(uid), Mode: mode, PodCIDRs: []string{fmt.Sprintf("10.244.%d.0/24", i), fmt.Sprintf("fd00:0:0:%d::/72", i)}},
			Status: v1.NodeNetworkConfigStatus{Conditions: []metav1.Condition{
				cond(v1.NodeAllocated, "True", v1.ReasonAllocated, "", 2),
				cond(v1.NodeProgrammed, "True", v1.ReasonProgrammed, "", int64(map[bool]int{true: 2, false: 1}[i < 2])),
			}},
		}
	}
	return snap
}

// TestStatusOfAMigratingDualStackCluster checks the growth rate (NNCs created within the
// window), the time to exhaustion per family and the migration's bar.
func TestStatusOfAMigratingDualStackCluster(t *testing.T) {
	var b bytes.Buffer
	WriteStatus(&b, migratingSnapshot(), now, 24*time.Hour)
	golden(t, "status-migrating.txt", b.String())
}

func TestGrowthCountsOnlyNodesWithinTheWindow(t *testing.T) {
	snap := migratingSnapshot()
	for window, want := range map[time.Duration]int{time.Minute: 0, 2 * time.Hour: 1, 24 * time.Hour: 2, 100 * time.Hour: 4} {
		if got := snap.growth(now, window).Joined; got != want {
			t.Errorf("growth over %v counts %d nodes, want %d", window, got, want)
		}
	}
}

func TestNodeStates(t *testing.T) {
	snap := migratingSnapshot()
	// A Node recreated under an old name: the NNC is bound to the old UID (B4).
	snap.Nodes[3].UID = "uid-new"
	c := snap.counts()
	if want := (counts{nodes: 4, allocated: 3, programmed: 2}); c != want {
		t.Errorf("counts = %+v, want %+v", c, want)
	}
	e, err := Explain(snap, "node-3")
	if err != nil {
		t.Fatal(err)
	}
	if e.OK || len(e.Rules) != 1 || e.Rules[0] != "B4" {
		t.Errorf("B4 explain of a node whose NNC belongs to an older Node = %+v, want not OK naming B4", e)
	}
}

func TestReservedCount(t *testing.T) {
	got := reservedCount([]string{"10.1.0.4/30", "10.1.0.10-10.1.0.19", "10.1.0.30", "not-an-address", "10.1.0.9-10.1.0.1"})
	if want := 4 + 10 + 1; got != want {
		t.Errorf("reservedCount = %d, want %d", got, want)
	}
}

// TestConditionMessagesCannotDriveTheTerminal: a message is free text an agent writes; a
// compromised node must not reach the terminal of whoever runs explain.
func TestConditionMessagesCannotDriveTheTerminal(t *testing.T) {
	got := oneLine("route failed\x1b]0;owned\x07 \x1b[2J\n next\u202eline")
	want := `route failed\u001b]0;owned\u0007 \u001b[2J next\u202eline`
	if got != want {
		t.Errorf("oneLine = %q, want %q", got, want)
	}
}
