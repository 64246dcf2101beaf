package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/allocation"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// Reasons of the Migrating condition, defined in api/v1alpha1 with every other reason.
const (
	ReasonMigrating          = v1.ReasonMigrating
	ReasonMigrationComplete  = v1.ReasonMigrationComplete
	ReasonExtraNonMasquerade = v1.ReasonExtraNonMasquerade
)

// reconcileMigration tracks a move from Kubenet or NodeSubnet to Overlay (R50–R54). The
// cluster's status.mode is the mode the nodes run in; it changes only once every node has
// its Overlay allocation and its agent reports Programmed for it. Everything is derived
// from the objects (the counts the allocation state keeps of them), so a manager restarted
// mid-way resumes where the last one stopped.
func (r *ClusterReconciler) reconcileMigration(ovc *v1.OverlayCluster, cfg *netconf.Config, counts allocation.Counts) {
	st := &ovc.Status
	if st.Mode == "" {
		// A new (or re-created) OverlayCluster: the nodes run in the mode they are
		// allocated in, whatever the spec says, until they have moved.
		st.Mode = cfg.Mode
		if m := r.Alloc.Facts().Legacy(); m != "" && m != cfg.Mode {
			st.Mode = m
		}
	}
	if st.Mode == cfg.Mode {
		if c := meta.FindStatusCondition(st.Conditions, v1.ClusterMigrating); c != nil && c.Status == metav1.ConditionTrue {
			r.setCondition(ovc, v1.ClusterMigrating, false, v1.ReasonMigrationComplete, fmt.Sprintf("every node runs in %s mode", cfg.Mode))
		}
		return
	}
	done := counts.Programmed[cfg.Mode]
	if done >= counts.Nodes {
		// Every node programs Overlay: the route table is retired with the old mode.
		st.Mode = cfg.Mode
		r.setCondition(ovc, v1.ClusterMigrating, false, v1.ReasonMigrationComplete, fmt.Sprintf(
			"all %d nodes moved to %s mode", counts.Nodes, cfg.Mode))
		return
	}
	msg := fmt.Sprintf("%s → %s: %d of %d nodes allocated and programmed", st.Mode, cfg.Mode, done, counts.Nodes)
	if len(cfg.ExtraNonMasqueradeCIDRs) > 0 {
		warn := fmt.Sprintf("spec.additionalNonMasqueradeCIDRs %v keep pod source addresses, but nothing outside the nodes can reach an Overlay pod IP: connectivity to those ranges may break (R54)",
			netconf.Strings(cfg.ExtraNonMasqueradeCIDRs))
		msg += "; warning: " + warn
		if c := meta.FindStatusCondition(st.Conditions, v1.ClusterMigrating); (c == nil || c.Status != metav1.ConditionTrue) && r.Recorder != nil {
			r.Recorder.Eventf(ovc, nil, corev1.EventTypeWarning, v1.ReasonExtraNonMasquerade, v1.ClusterMigrating, "%s", warn)
		}
	}
	r.setCondition(ovc, v1.ClusterMigrating, true, v1.ReasonMigrating, msg)
}

// nodeProgrammed reports whether an NNC is allocated in its spec's mode and its agent
// programmed that generation.
func nodeProgrammed(nnc *v1.NodeNetworkConfig) bool {
	if nnc.Spec.Mode == "" || !nnc.IsAllocated() {
		return false
	}
	p := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeProgrammed)
	return p != nil && p.Status == metav1.ConditionTrue && p.ObservedGeneration >= nnc.Generation
}

// routeTable returns the Kubenet route table (R31): each allocated node's IPv4 block via
// its IPv4 address, as its NodeNetworkConfig publishes them, ordered by destination. A
// Kubenet cluster has at most 400 nodes, so reading every NNC is cheap.
func (r *ClusterReconciler) routeTable(ctx context.Context) ([]v1.Route, error) {
	nncs := &v1.NodeNetworkConfigList{}
	if err := r.List(ctx, nncs, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	var out []v1.Route
	for i := range nncs.Items {
		nnc := &nncs.Items[i]
		st := &nnc.Spec
		if !nnc.DeletionTimestamp.IsZero() || !nnc.IsAllocated() || len(st.PodCIDRs) == 0 || len(st.NodeIPs) == 0 {
			continue
		}
		block, err1 := netip.ParsePrefix(st.PodCIDRs[0])
		ip, err2 := netip.ParseAddr(st.NodeIPs[0])
		if err1 != nil || err2 != nil || !block.Addr().Is4() || !ip.Is4() {
			continue
		}
		out = append(out, v1.Route{Destination: block.String(), NextHop: ip.String(), Node: nnc.Name})
	}
	slices.SortFunc(out, func(a, b v1.Route) int {
		return netip.MustParsePrefix(a.Destination).Addr().Compare(netip.MustParsePrefix(b.Destination).Addr())
	})
	return out, nil
}
