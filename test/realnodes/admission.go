package realnodes

import (
	"context"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// AgentNamespace and AgentServiceAccount are where dist/install.yaml runs the agent.
const (
	AgentNamespace      = "overlaynet-system"
	AgentServiceAccount = "overlaynet-agent"
)

// AgentPodOn returns the agent pod that the DaemonSet runs on node.
func AgentPodOn(ctx context.Context, cs *kubernetes.Clientset, node string) (*corev1.Pod, error) {
	pods, err := cs.CoreV1().Pods(AgentNamespace).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		if pods.Items[i].Spec.ServiceAccountName == AgentServiceAccount && pods.Items[i].Status.Phase == corev1.PodRunning {
			return &pods.Items[i], nil
		}
	}
	return nil, fmt.Errorf("no running %s pod on %s", AgentServiceAccount, node)
}

// AgentClient returns a clientset that acts with a token of the agent's ServiceAccount
// bound to pod, the running agent pod of a real node: the API server puts that node's name
// in the token's authentication.kubernetes.io/node-name claim, as it does for the token
// the kubelet projects into the pod.
func (c *Cluster) AgentClient(ctx context.Context, cs *kubernetes.Clientset, pod *corev1.Pod) (*kubernetes.Clientset, error) {
	tr, err := cs.CoreV1().ServiceAccounts(AgentNamespace).CreateToken(ctx, AgentServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("minting a token for agent pod %s: %w", pod.Name, err)
	}
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = tr.Status.Token
	return kubernetes.NewForConfig(cfg)
}

// PatchNNCStatus sends a JSON merge patch to the status of NodeNetworkConfig name, as a
// raw request, so that the attack goes out exactly as written.
func PatchNNCStatus(ctx context.Context, cs *kubernetes.Clientset, name, patch string) error {
	return cs.RESTClient().Patch(types.MergePatchType).
		AbsPath("/apis/network.overlaynet.io/v1alpha1/nodenetworkconfigs", name, "status").
		Body([]byte(patch)).Do(ctx).Error()
}

// refusedByPolicy says whether err is the admission policy's refusal, which names B7.
func refusedByPolicy(err error) bool {
	return err != nil && strings.Contains(err.Error(), "B7")
}
