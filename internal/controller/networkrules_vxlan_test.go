package controller

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

func TestNetworkRulesNameTheVXLANPort(t *testing.T) {
	vxlan := func(port string) []v1.NetworkRule {
		return []v1.NetworkRule{{Name: "vxlan", Sources: []string{"10.1.0.0/16"}, Destinations: []string{"10.1.0.0/16"}, Protocol: "UDP", Ports: port}}
	}
	for _, tc := range []struct {
		name string
		spec v1.OverlayClusterSpec
		want []v1.NetworkRule
	}{
		{"R17 B9 the default CrossSubnet mode adds UDP 4789", v1.OverlayClusterSpec{}, vxlan("4789")},
		{"R17 B9 VXLAN mode adds its configured port", v1.OverlayClusterSpec{CrossSubnet: &v1.CrossSubnetSpec{Mode: v1.CrossSubnetModeVXLAN, VXLANPort: ptr.To[int32](8472)}}, vxlan("8472")},
		{"R17 B9 Direct mode adds nothing", v1.OverlayClusterSpec{CrossSubnet: &v1.CrossSubnetSpec{Mode: v1.CrossSubnetModeDirect}}, nil},
		{"R17 B9 NodeSubnet mode adds nothing", v1.OverlayClusterSpec{Mode: v1.ModeNodeSubnet}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.VNetCIDRs = []string{"10.1.0.0/16"}
			cfg, err := netconf.Resolve(&tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			got := NetworkRules(cfg)[3:]
			if len(got) == 0 {
				got = nil
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
