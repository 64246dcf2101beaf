package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
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
// from the objects, so a manager restarted mid-way resumes where the last one stopped.
func (r *ClusterReconciler) reconcileMigration(ctx context.Context, ovc *v1.OverlayCluster, cfg *netconf.Config, nodes []corev1.Node) error {
	st := &ovc.Status
	if st.Mode == "" {
		st.Mode = cfg.Mode
	}
	if st.Mode == cfg.Mode {
		if c := meta.FindStatusCondition(st.Conditions, v1.ClusterMigrating); c != nil && c.Status == "True" {
			r.setCondition(ovc, v1.ClusterMigrating, false, ReasonMigrationComplete, fmt.Sprintf("every node runs in %s mode", cfg.Mode))
		}
		return nil
	}
	nncs := &v1.NodeNetworkConfigList{}
	if err := r.List(ctx, nncs, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	byName := map[string]*v1.NodeNetworkConfig{}
	for i := range nncs.Items {
		byName[nncs.Items[i].Name] = &nncs.Items[i]
	}
	done := 0
	for i := range nodes {
		if nodeMigrated(byName[nodes[i].Name], string(nodes[i].UID), cfg.Mode) {
			done++
		}
	}
	if done == len(nodes) {
		// Every node programs Overlay: the route table is retired with the old mode.
		st.Mode = cfg.Mode
		r.setCondition(ovc, v1.ClusterMigrating, false, ReasonMigrationComplete, fmt.Sprintf(
			"all %d nodes moved to %s mode", done, cfg.Mode))
		return nil
	}
	msg := fmt.Sprintf("%s → %s: %d of %d nodes allocated and programmed", st.Mode, cfg.Mode, done, len(nodes))
	if len(cfg.ExtraNonMasqueradeCIDRs) > 0 {
		warn := fmt.Sprintf("spec.additionalNonMasqueradeCIDRs %v keep pod source addresses, but nothing outside the nodes can reach an Overlay pod IP: connectivity to those ranges may break (R54)",
			netconf.Strings(cfg.ExtraNonMasqueradeCIDRs))
		msg += "; warning: " + warn
		if c := meta.FindStatusCondition(st.Conditions, v1.ClusterMigrating); (c == nil || c.Status != "True") && r.Recorder != nil {
			r.Recorder.Eventf(ovc, nil, corev1.EventTypeWarning, ReasonExtraNonMasquerade, v1.ClusterMigrating, "%s", warn)
		}
	}
	r.setCondition(ovc, v1.ClusterMigrating, true, ReasonMigrating, msg)
	return nil
}

// nodeMigrated reports whether a node's NNC is allocated in the target mode and its agent
// programmed that generation.
func nodeMigrated(nnc *v1.NodeNetworkConfig, uid string, mode v1.NetworkMode) bool {
	if nnc == nil || nnc.Spec.NodeUID != uid || nnc.Spec.Mode != mode || nnc.Status.Mode != mode {
		return false
	}
	if !meta.IsStatusConditionTrue(nnc.Status.Conditions, v1.NodeAllocated) {
		return false
	}
	p := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeProgrammed)
	return p != nil && p.Status == "True" && p.ObservedGeneration >= nnc.Generation
}

// routeTable returns the Kubenet route table (R31): each allocated node's IPv4 block via
// its IPv4 address, ordered by destination.
func (r *ClusterReconciler) routeTable(nodes []corev1.Node) []v1.Route {
	var out []v1.Route
	for i := range nodes {
		ip := nodeIP(&nodes[i], v1.IPv4)
		blocks := r.Alloc.ClaimsOf(string(nodes[i].UID))[v1.IPv4]
		if !ip.IsValid() || len(blocks) == 0 {
			continue
		}
		out = append(out, v1.Route{Destination: blocks[0].String(), NextHop: ip.String(), Node: nodes[i].Name})
	}
	slices.SortFunc(out, func(a, b v1.Route) int {
		return netip.MustParsePrefix(a.Destination).Addr().Compare(netip.MustParsePrefix(b.Destination).Addr())
	})
	return out
}
