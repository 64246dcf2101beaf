package controller

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/validation"
)

// Rulebook returns the Validator the controller applies: every rule of the spec
// (internal/validation.ValidateSpec, the same rules CEL enforces at admission, so a CRD
// installed without its validations is still caught) and the rules that need facts about
// the running cluster (ValidateCluster: the Kubernetes version for R19 and R50, Windows
// nodes on docker for R50, the mode the nodes run in).
func Rulebook(cfg *rest.Config, nodes client.Reader) (Validator, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ovc *v1.OverlayCluster, currentMode v1.NetworkMode) []string {
		facts := validation.ClusterFacts{CurrentMode: currentMode}
		if v, err := dc.ServerVersion(); err == nil {
			facts.KubernetesVersion = v.GitVersion
		}
		list := &corev1.NodeList{}
		if err := nodes.List(ctx, list, client.UnsafeDisableDeepCopy); err == nil {
			for i := range list.Items {
				info := list.Items[i].Status.NodeInfo
				if strings.EqualFold(info.OperatingSystem, "windows") && strings.HasPrefix(info.ContainerRuntimeVersion, "docker://") {
					facts.DockerWindowsNodes = append(facts.DockerWindowsNodes, list.Items[i].Name)
				}
			}
		}
		var msgs []string
		for _, v := range append(validation.ValidateSpec(&ovc.Spec), validation.ValidateCluster(&ovc.Spec, facts)...) {
			msgs = append(msgs, v.Error())
		}
		return msgs
	}, nil
}
