// Package security is the acceptance suite of overlaynet's trust boundaries (B7): it
// installs config/default (the objects of dist/install.yaml, rendered with kustomize's Go
// API) on the local API server, mints real ServiceAccount tokens through the TokenRequest
// API (an agent's bound to its pod on a node, so that it carries the
// authentication.kubernetes.io/node-name claim), and runs a table of attacks with them. Each
// attack must be refused with the rule it breaks in the message; the legitimate writes of
// the agent and the manager must still go through.
package security

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/overlaynet/overlaynet/internal/testenv"
)

// Namespace is where config/default installs overlaynet.
const Namespace = "overlaynet-system"

// The ServiceAccounts of the install, and the claim the API server puts in tokens bound to a
// pod on a node.
const (
	managerSA = "overlaynet-manager"
	agentSA   = "overlaynet-agent"
	nodeClaim = "authentication.kubernetes.io/node-name"
)

var (
	env *testenv.Env
	cs  *kubernetes.Clientset
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "starting the local control plane: %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the local control plane: %v\n", err)
		}
	}()
	if cs, err = kubernetes.NewForConfig(env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := install(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "installing config/default: %v\n", err)
		return 1
	}
	return m.Run()
}

// renderDefault builds config/default with kustomize's Go API: the objects `make
// build-installer` writes into dist/install.yaml.
func renderDefault() ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(testenv.RepoRoot(), "config", "default"))
	if err != nil {
		return nil, fmt.Errorf("kustomize build config/default: %w", err)
	}
	y, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(y)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, err
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// install applies every object of config/default as `kubectl apply --server-side` does,
// the Namespace first, then waits until the admission policy is in force.
func install(ctx context.Context) error {
	objs, err := renderDefault()
	if err != nil {
		return err
	}
	kinds := map[string]bool{}
	for _, pass := range []func(*unstructured.Unstructured) bool{
		func(u *unstructured.Unstructured) bool { return u.GetKind() == "Namespace" },
		func(u *unstructured.Unstructured) bool { return u.GetKind() != "Namespace" },
	} {
		for _, o := range objs {
			if !pass(o) {
				continue
			}
			kinds[o.GetKind()] = true
			if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
				client.FieldOwner("overlaynet-installer"), client.ForceOwnership); err != nil {
				return fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
			}
		}
	}
	for _, k := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ClusterRoleBinding", "ServiceAccount"} {
		if !kinds[k] {
			return fmt.Errorf("config/default installs no %s", k)
		}
	}
	// The API server loads policies, bindings and parameters through informers: wait until
	// a write the policy refuses is refused.
	probe := claim("v4-10.244.250.0-24", "10.244.250.0/24", "IPv4", "node-x", "uid-x")
	deadline := time.Now().Add(time.Minute)
	for {
		err := env.Client.Create(ctx, probe, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "B7") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the admission policy is not in force a minute after the install: an administrator's BlockClaim create answered %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// asToken returns a client that authenticates with a bearer token only.
func asToken(token string) (client.Client, error) {
	cfg := &rest.Config{
		Host:            env.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: env.Config.CAData},
		BearerToken:     token,
		QPS:             -1,
	}
	return client.New(cfg, client.Options{Scheme: env.Scheme})
}

// ensureNode creates a Node (as a kubelet registers) unless it exists, and returns it.
func ensureNode(ctx context.Context, name string) (*corev1.Node, error) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	if err := env.Client.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	return n, env.Client.Get(ctx, client.ObjectKey{Name: name}, n)
}

// podToken mints a token for ServiceAccount ns/sa bound to a pod of that ServiceAccount
// scheduled on node: what the kubelet mounts into the agent's pod.
func podToken(ctx context.Context, ns, sa, node string) (string, error) {
	if _, err := ensureNode(ctx, node); err != nil {
		return "", err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: sa + "-", Namespace: ns},
		Spec: corev1.PodSpec{
			ServiceAccountName:           sa,
			NodeName:                     node,
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "agent", Image: "ghcr.io/overlaynet/overlaynet:dev"}},
		},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		return "", fmt.Errorf("creating a pod of %s/%s on %s: %w", ns, sa, node, err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest for %s/%s bound to pod %s: %w", ns, sa, pod.Name, err)
	}
	return tr.Status.Token, nil
}

// plainToken mints a token for ServiceAccount ns/sa bound to nothing: it carries no node
// claim.
func plainToken(ctx context.Context, ns, sa string) (string, error) {
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest for %s/%s: %w", ns, sa, err)
	}
	return tr.Status.Token, nil
}

// whoAmI asks the API server who a client is (SelfSubjectReview, `kubectl auth whoami`).
func whoAmI(ctx context.Context, token string) (authenticationv1.UserInfo, error) {
	cfg := &rest.Config{Host: env.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: env.Config.CAData}, BearerToken: token}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	return r.Status.UserInfo, nil
}
