// Package testenv starts the local control plane (envtest's kube-apiserver and etcd, built
// from Go modules by hack/envtest-assets.sh) with the overlaynet CRDs installed. Every
// suite that needs an API server, and the demo, share it.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	networkv1alpha1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

// Env is a running local control plane.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is a direct (uncached) client with the overlaynet scheme.
	Client client.Client
	// Scheme knows the built-in and overlaynet types.
	Scheme *apiruntime.Scheme

	env *envtest.Environment
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Scheme returns a scheme with the built-in and overlaynet types.
func Scheme() *apiruntime.Scheme {
	s := apiruntime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(networkv1alpha1.AddToScheme(s))
	return s
}

// Assets returns the directory holding kube-apiserver and etcd: KUBEBUILDER_ASSETS when
// set, else whatever hack/envtest-assets.sh builds or finds in its cache.
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "envtest-assets.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("finding envtest assets with hack/envtest-assets.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Start starts kube-apiserver and etcd and installs the CRDs from config/crd/bases.
func Start() (*Env, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	e := &Env{Scheme: Scheme()}
	e.env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                e.Scheme,
	}
	// Garbage collection of owned objects needs kube-controller-manager, which envtest
	// does not run; suites that depend on it say so and delete explicitly.
	if e.Config, err = e.env.Start(); err != nil {
		return nil, fmt.Errorf("starting the local control plane from %s: %w", assets, err)
	}
	// Allocation throughput is bounded by the API server, not by a client-side limiter.
	e.Config.QPS, e.Config.Burst = -1, 0
	if e.Client, err = client.New(e.Config, client.Options{Scheme: e.Scheme}); err != nil {
		_ = e.env.Stop()
		return nil, err
	}
	return e, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.env.Stop() }

// KubeconfigFile writes a kubeconfig for the control plane's administrator and returns its
// path, for processes started outside the test (manager, agents, kubectl).
func (e *Env) KubeconfigFile(dir string) (string, error) {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: "overlaynet-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, kc, 0o600)
}

// GVK is a convenience for tests.
func GVK(kind string) schema.GroupVersionKind { return networkv1alpha1.GroupVersion.WithKind(kind) }
