package agent

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// ReasonEncapsulationFailed: the node cannot reach peers off its link as the cluster's
// crossSubnet setting asks (B9): its uplink is unknown or too small for VXLAN (X2).
const ReasonEncapsulationFailed = "EncapsulationFailed"

// peerPaths counts the peers reached directly and through VXLAN (B9), per node, which is
// what the Programmed message also says.
var peerPaths = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "overlaynet_agent_peers",
	Help: "Peer nodes whose pod blocks this node routes, by path: direct on the node's link, or vxlan.",
}, []string{"node", "path"})

func init() { metrics.Registry.MustRegister(peerPaths) }

// encapsulation is what a reconcile needs to decide which peers to encapsulate.
type encapsulation struct {
	// cs is the cluster's effective crossSubnet setting.
	cs netconf.CrossSubnet
	// underlay describes the node's uplink; known is false when the backend cannot say,
	// and then nothing is encapsulated.
	underlay desired.Underlay
	known    bool
	// cni are the CNI options with the pods' MTU filled in.
	cni desired.CNIOptions
}

// crossSubnet reads the cluster's crossSubnet setting (its defaults when the
// OverlayCluster is missing) and the node's uplink, and fits the pods' MTU to them.
func (a *Agent) crossSubnet(ctx context.Context, self *v1alpha1.NodeNetworkConfig) (*encapsulation, error) {
	ovc := &v1alpha1.OverlayCluster{}
	var spec *v1alpha1.CrossSubnetSpec
	mode := self.Status.Mode
	switch err := a.client.Get(ctx, types.NamespacedName{Name: v1alpha1.ClusterName}, ovc); {
	case err == nil:
		spec, mode = ovc.Spec.CrossSubnet, ovc.Spec.Mode
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("reading OverlayCluster %q for its crossSubnet setting: %w", v1alpha1.ClusterName, err)
	}
	e := &encapsulation{cs: netconf.ResolveCrossSubnet(mode, spec), cni: a.opts.CNI}
	r, ok := a.opts.Datapath.(datapath.UnderlayReader)
	if !ok || !e.cs.MayEncapsulate() {
		return e, nil
	}
	var ips []netip.Addr
	for _, s := range self.Status.NodeIPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			ips = append(ips, ip.Unmap())
		}
	}
	u, err := r.Underlay(ips)
	if err != nil {
		return nil, err
	}
	e.underlay, e.known = u, true
	if e.cni.MTU == 0 {
		var fams []v1alpha1.IPFamily
		for _, ip := range ips {
			if f := netconf.FamilyOf(ip); !containsFamily(fams, f) {
				fams = append(fams, f)
			}
		}
		if e.cni.MTU, err = desired.PodMTU(e.cs, u, fams); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// apply moves the routes of want that must not go direct onto VXLAN devices, and records
// the path counts.
func (e *encapsulation) apply(self *v1alpha1.NodeNetworkConfig, want *desired.Result) {
	if e.known {
		paths, warnings := desired.Encapsulate(&want.Datapath, self, e.cs, e.underlay)
		want.Paths = paths
		want.Warnings = append(want.Warnings, warnings...)
	} else {
		want.Paths = desired.Paths{Direct: directPeers(want.Datapath.Routes)}
	}
	peerPaths.WithLabelValues(self.Name, "direct").Set(float64(want.Paths.Direct))
	peerPaths.WithLabelValues(self.Name, "vxlan").Set(float64(want.Paths.Encapsulated))
}

// pathsMessage is the part of the Programmed message that says how peers are reached.
func pathsMessage(p desired.Paths) string {
	return fmt.Sprintf(" (peers: %d direct, %d through VXLAN)", p.Direct, p.Encapsulated)
}

func directPeers(rs []desired.Route) int {
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Node] = true
	}
	return len(seen)
}

func containsFamily(fs []v1alpha1.IPFamily, f v1alpha1.IPFamily) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}
