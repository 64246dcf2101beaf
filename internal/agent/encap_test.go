package agent_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/test/harness"
)

// underlayDatapath is a fake backend whose node sits on 10.224.0.0/24 with MTU 1500.
type underlayDatapath struct{ fakeDatapath }

func (u *underlayDatapath) Underlay([]netip.Addr) (desired.Underlay, error) {
	return desired.Underlay{Connected: []netip.Prefix{netip.MustParsePrefix("10.224.0.0/24")}, MTU: 1500}, nil
}

func TestReconcileEncapsulatesOnlyThePeerOffTheLink(t *testing.T) {
	createNNC(t, "x-1", "10.244.11.0/24", "10.224.0.4", 10)
	createNNC(t, "x-2", "10.244.12.0/24", "10.224.0.5", 10) // on the link
	createNNC(t, "x-3", "10.244.13.0/24", "10.224.1.4", 10) // in the node network, off the link
	dp := &underlayDatapath{}
	f := newAgent(t, "x-1", func(o *agent.Options, _ *fakeDatapath) { o.Datapath = dp })
	if _, err := f.reconcile(t); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	last := dp.Last()
	var devs []string
	for _, r := range last.Routes {
		devs = append(devs, r.Dst.String()+"@"+r.Dev)
	}
	if diff := cmp.Diff([]string{"10.244.12.0/24@", "10.244.13.0/24@" + desired.TunnelName(v1alpha1.IPv4)}, devs); diff != "" {
		t.Errorf("B9 routes (-want +got):\n%s", diff)
	}
	c := condition(t, "x-1", v1alpha1.NodeProgrammed)
	if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "(peers in 10.224.0.0/24 routed directly, others through VXLAN on UDP port 4789, VNI 7900)") {
		t.Errorf("B9 the Programmed message says which peers go direct: %+v", c)
	}
	direct, vxlan := harness.PeerPaths("x-1")
	if direct != 1 || vxlan != 1 {
		t.Errorf("B9 overlaynet_agent_peers{node=x-1}: %d direct, %d vxlan; want 1 and 1", direct, vxlan)
	}
	conf, err := os.ReadFile(filepath.Join(f.confDir, agent.DefaultCNIConfName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), `"mtu": 1450,`) {
		t.Errorf("B9 pods get the uplink's MTU less 50 bytes of VXLAN over IPv4:\n%s", conf)
	}
}
