package validation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// The ports a VXLAN tunnel must not take (X1): the NodePort range, where kube-proxy would
// hand the port to a Service, and the ports Kubernetes components listen on (API server,
// etcd, kubelet, kube-proxy health, controller-manager, scheduler).
const (
	nodePortFirst = 30000
	nodePortLast  = 32767
)

var componentPorts = []int{6443, 2379, 2380, 10250, 10256, 10257, 10259}

// componentPortList names componentPorts in messages: "6443, 2379, ...".
func componentPortList() string {
	return strings.Trim(strings.ReplaceAll(fmt.Sprint(componentPorts), " ", ", "), "[]")
}

// Schema bounds of crossSubnet.
const (
	minVXLANPort = 1024
	maxVXLANPort = 65535
	maxVNI       = 1<<24 - 1
)

// checkCrossSubnet enforces the settings of spec.crossSubnet that cannot work (B9):
//
//   - X1: the VXLAN port collides with the NodePort range or a Kubernetes component;
//   - X2: the pod MTU is below 1280, the least IPv6 (RFC 8200) and many stacks accept;
//   - X3: NodeSubnet pods hold VNet addresses: there is no pod block to encapsulate.
func checkCrossSubnet(l *list, v *view) {
	cs := v.spec.CrossSubnet
	if cs == nil {
		return
	}
	enum(l, "spec.crossSubnet.mode", string(cs.Mode), v1alpha1.CrossSubnetModeCrossSubnet, v1alpha1.CrossSubnetModeVXLAN, v1alpha1.CrossSubnetModeDirect)
	if p := cs.VXLANPort; p != nil {
		switch port := int(*p); {
		case port < minVXLANPort || port > maxVXLANPort:
			l.add("S4", "spec.crossSubnet.vxlanPort", "%d is outside %d-%d", port, minVXLANPort, maxVXLANPort)
		case (port >= nodePortFirst && port <= nodePortLast) || slices.Contains(componentPorts, port):
			l.add("X1", "spec.crossSubnet.vxlanPort", "%d collides with the NodePort range %d-%d or a Kubernetes component port (%s)",
				port, nodePortFirst, nodePortLast, componentPortList())
		}
	}
	if n := cs.VNI; n != nil && (*n < 1 || *n > maxVNI) {
		l.add("S4", "spec.crossSubnet.vni", "%d is outside 1-%d", *n, maxVNI)
	}
	if m := cs.PodMTU; m != nil && (*m < v1alpha1.MinPodMTU || *m > 65535) {
		l.add("X2", "spec.crossSubnet.podMTU", "%d is outside %d-65535: IPv6 needs at least %d on every link", *m, v1alpha1.MinPodMTU, v1alpha1.MinPodMTU)
	}
	if v.mode == v1alpha1.ModeNodeSubnet && cs.Mode != "" && cs.Mode != v1alpha1.CrossSubnetModeDirect {
		l.add("X3", "spec.crossSubnet.mode", "NodeSubnet mode routes pod addresses on the node network; crossSubnet.mode %s needs pod blocks (Overlay or Kubenet): set Direct or leave it unset", cs.Mode)
	}
}
