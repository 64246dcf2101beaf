package agent

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// ReasonEncapsulationFailed is the Programmed reason of a node that cannot reach peers off
// its link as the cluster's crossSubnet setting asks (B9, X2).
const ReasonEncapsulationFailed = v1alpha1.ReasonEncapsulationFailed

// peerPaths counts the peers reached directly and through VXLAN (B9), per node. The
// Programmed message says which path a peer takes (pathPolicy), but not how many take each:
// that would change every agent's status whenever a peer joins (B8).
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

// crossSubnet takes the cluster's crossSubnet setting from ovc, the OverlayCluster the
// reconcile already read, reads the node's uplink, and fits the pods' MTU to them.
func (a *Agent) crossSubnet(ovc *v1alpha1.OverlayCluster, self *v1alpha1.NodeNetworkConfig) (*encapsulation, error) {
	spec, mode := ovc.Spec.CrossSubnet, ovc.Spec.Mode
	e := &encapsulation{cs: netconf.ResolveCrossSubnet(mode, spec), cni: a.opts.CNI}
	r, ok := a.opts.Datapath.(datapath.UnderlayReader)
	if !ok || !e.cs.MayEncapsulate() {
		return e, nil
	}
	var ips []netip.Addr
	for _, s := range self.Spec.NodeIPs {
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
			if f := netconf.FamilyOf(ip); !slices.Contains(fams, f) {
				fams = append(fams, f)
			}
		}
		if e.cni.MTU, err = desired.PodMTU(e.cs, u, fams); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// encapsulation is what the peer index needs to decide which peers go through VXLAN.
func (e *encapsulation) encapsulation() desired.Encapsulation {
	return desired.Encapsulation{Known: e.known, CrossSubnet: e.cs, Underlay: e.underlay}
}

// report fills in want's path policy and records the path counts.
func (e *encapsulation) report(self *v1alpha1.NodeNetworkConfig, want *desired.Result) {
	want.PathPolicy = e.pathPolicy()
	peerPaths.WithLabelValues(self.Name, "direct").Set(float64(want.Paths.Direct))
	peerPaths.WithLabelValues(self.Name, "vxlan").Set(float64(want.Paths.Encapsulated))
}

// pathPolicy says how this node reaches its peers, from the cluster's setting and the
// node's own uplink only: how many peers take each path changes whenever a peer joins, so
// the counts are metrics (overlaynet_agent_peers), not part of the Programmed message (B8).
func (e *encapsulation) pathPolicy() string {
	vxlan := fmt.Sprintf("VXLAN on UDP port %d, VNI %d", e.cs.Port, e.cs.VNI)
	switch {
	case !e.cs.MayEncapsulate():
		return "every peer routed directly"
	case !e.known:
		return "every peer routed directly: the uplink is unknown"
	case e.cs.Mode == v1alpha1.CrossSubnetModeVXLAN:
		return "every peer through " + vxlan
	}
	links := make([]string, 0, len(e.underlay.Connected))
	for _, p := range e.underlay.Connected {
		links = append(links, p.Masked().String())
	}
	return fmt.Sprintf("peers in %s routed directly, others through %s", strings.Join(links, ", "), vxlan)
}
