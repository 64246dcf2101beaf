package validation

import "github.com/overlaynet/overlaynet/api/v1alpha1"

func crossSubnet(cs v1alpha1.CrossSubnetSpec) mod {
	return func(s *v1alpha1.OverlayClusterSpec) { s.CrossSubnet = &cs }
}

// The cross-subnet rows of the rulebook (B9, X1-X3): the agreement test runs them through
// the API server too.
func init() {
	Rulebook = append(Rulebook,
		Case{Name: "B9 every crossSubnet mode with a free port, a VNI and an MTU is accepted",
			Spec: spec(crossSubnet(v1alpha1.CrossSubnetSpec{Mode: v1alpha1.CrossSubnetModeVXLAN, VXLANPort: ptr[int32](8472), VNI: ptr[int32](1), PodMTU: ptr[int32](1450)}))},
		Case{Name: "B9 Direct mode in NodeSubnet is accepted",
			Spec: spec(mode(v1alpha1.ModeNodeSubnet), crossSubnet(v1alpha1.CrossSubnetSpec{Mode: v1alpha1.CrossSubnetModeDirect}))},
		Case{Name: "S4 an unknown crossSubnet mode is rejected by the schema",
			Spec: spec(crossSubnet(v1alpha1.CrossSubnetSpec{Mode: "Geneve"})), WantRules: []string{"S4"}, SchemaSays: "Unsupported value"},
		Case{Name: "S4 a privileged VXLAN port is rejected by the schema",
			Spec: spec(crossSubnet(v1alpha1.CrossSubnetSpec{VXLANPort: ptr[int32](53)})), WantRules: []string{"S4"}, SchemaSays: "should be greater than or equal to 1024"},
		Case{Name: "S4 a VNI beyond 24 bits is rejected by the schema",
			Spec: spec(crossSubnet(v1alpha1.CrossSubnetSpec{VNI: ptr[int32](1 << 24)})), WantRules: []string{"S4"}, SchemaSays: "should be less than or equal to 16777215"},
		Case{Name: "X1 a VXLAN port in the NodePort range is rejected",
			Spec: spec(crossSubnet(v1alpha1.CrossSubnetSpec{VXLANPort: ptr[int32](30080)})), WantRules: []string{"X1"}},
		Case{Name: "X1 the kubelet's port as the VXLAN port is rejected",
			Spec: spec(crossSubnet(v1alpha1.CrossSubnetSpec{VXLANPort: ptr[int32](10250)})), WantRules: []string{"X1"}},
		Case{Name: "X2 a pod MTU below 1280 is rejected by the schema",
			Spec: spec(crossSubnet(v1alpha1.CrossSubnetSpec{PodMTU: ptr[int32](1200)})), WantRules: []string{"X2"}, SchemaSays: "should be greater than or equal to 1280"},
		Case{Name: "X3 VXLAN in NodeSubnet mode is rejected",
			Spec: spec(mode(v1alpha1.ModeNodeSubnet), crossSubnet(v1alpha1.CrossSubnetSpec{Mode: v1alpha1.CrossSubnetModeVXLAN})), WantRules: []string{"X3"}},
	)
}
