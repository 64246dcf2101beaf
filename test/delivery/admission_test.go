package delivery

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The admission policy names the ServiceAccounts through its parameters, whose namespace is
// the install's: rendered into another namespace, the chart's binding follows, and so does
// config/default's (kustomize's namespace transformer is taught the binding's paramRef in
// config/admission/kustomizeconfig.yaml). The CEL itself holds no namespace.
func TestAdmissionPolicyFollowsTheNamespace(t *testing.T) {
	const ns = "network-system"
	h, err := renderHelmIn(ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := renderKustomize("config/default")
	if err != nil {
		t.Fatal(err)
	}
	for name, objs := range map[string][]*unstructured.Unstructured{"helm chart in " + ns: h.Objects, "kustomize config/default": k} {
		want := Namespace
		if strings.HasPrefix(name, "helm") {
			want = ns
		}
		m := byKey(t, objs)
		binding := m["ValidatingAdmissionPolicyBinding overlaynet-writers"]
		if binding == nil {
			t.Errorf("%s: no ValidatingAdmissionPolicyBinding overlaynet-writers", name)
			continue
		}
		if got, _, _ := unstructured.NestedString(binding.Object, "spec", "paramRef", "namespace"); got != want {
			t.Errorf("%s: the binding's parameters are looked up in namespace %q, want %q", name, got, want)
		}
		if m["ConfigMap "+want+"/overlaynet-admission"] == nil {
			t.Errorf("%s: no parameters ConfigMap %s/overlaynet-admission", name, want)
		}
		policy := m["ValidatingAdmissionPolicy overlaynet-writers"]
		if policy == nil {
			t.Errorf("%s: no ValidatingAdmissionPolicy overlaynet-writers", name)
			continue
		}
		spec, _, _ := unstructured.NestedMap(policy.Object, "spec")
		if s := strings.Join(flattenStrings(spec), "\n"); strings.Contains(s, Namespace) || strings.Contains(s, ns) {
			t.Errorf("%s: the policy's rules name a namespace; they must take it from their parameters", name)
		}
	}
}

func flattenStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, flattenStrings(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, flattenStrings(e)...)
		}
		return out
	}
	return nil
}

// values.schema.json covers every value (issue 12 item 10): a misspelt key anywhere is
// refused, and what reaches the pods' security context or command line is constrained.
func TestHelmValuesSchemaRefusesWhatItShould(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"an unknown top-level key":                {"managr": map[string]any{"replicas": 1}},
		"an unknown manager key":                  {"manager": map[string]any{"replica": 3}},
		"an unknown agent key":                    {"agent": map[string]any{"privileged": true}},
		"SYS_ADMIN for the agent":                 {"agent": map[string]any{"capabilities": []any{"NET_ADMIN", "SYS_ADMIN"}}},
		"an agent without NET_ADMIN":              {"agent": map[string]any{"capabilities": []any{"NET_RAW"}}},
		"ALL capabilities":                        {"agent": map[string]any{"capabilities": []any{"ALL"}}},
		"an agent flag overriding the node":       {"agent": map[string]any{"extraArgs": []any{"--node-name=node-b"}}},
		"an agent flag pointing elsewhere":        {"agent": map[string]any{"extraArgs": []any{"--kubeconfig=/tmp/kc"}}},
		"a manager flag turning off metrics auth": {"manager": map[string]any{"extraArgs": []any{"--metrics-secure=false"}}},
		"a manager flag turning on HTTP/2":        {"manager": map[string]any{"extraArgs": []any{"--enable-http2"}}},
		"a flag smuggling a second one":           {"manager": map[string]any{"extraArgs": []any{"--zap-log-level=debug --metrics-secure=false"}}},
		"a relative CNI directory":                {"cni": map[string]any{"confDir": "etc/cni/net.d"}},
		"a CNI directory escaping with ..":        {"cni": map[string]any{"binDir": "/opt/cni/../../etc"}},
		"a pod label replacing the selector":      {"agent": map[string]any{"podLabels": map[string]any{"app.kubernetes.io/component": "manager"}}},
		"an image digest that is not sha256":      {"image": map[string]any{"digest": "md5:abc"}},
		"a port out of range":                     {"manager": map[string]any{"healthPort": 70000}},
		"an MTU too small":                        {"agent": map[string]any{"mtu": 100}},
		"an unknown toleration field":             {"agent": map[string]any{"tolerations": []any{map[string]any{"operator": "Exists", "effects": "NoSchedule"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := renderHelm(vals); err == nil {
				t.Errorf("helm install accepted %v", vals)
			}
		})
	}
	for name, vals := range map[string]map[string]any{
		"NET_RAW besides NET_ADMIN": {"agent": map[string]any{"capabilities": []any{"NET_ADMIN", "NET_RAW"}}},
		"logging flags":             {"manager": map[string]any{"extraArgs": []any{"--zap-log-level=debug", "--kube-api-burst=50"}}, "agent": map[string]any{"extraArgs": []any{"--zap-devel"}}},
		"k3s CNI directories":       {"cni": map[string]any{"confDir": "/var/lib/rancher/k3s/agent/etc/cni/net.d", "binDir": "/var/lib/rancher/k3s/data/cni"}},
		"workers and QPS":           {"manager": map[string]any{"workers": 8, "kubeAPIQPS": 50}},
		"a digest":                  {"image": map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)}},
		"an MTU":                    {"agent": map[string]any{"mtu": 1450, "resyncPeriod": "5m"}},
	} {
		t.Run("accepts "+name, func(t *testing.T) {
			if _, err := renderHelm(vals); err != nil {
				t.Errorf("helm install refused %v: %v", vals, err)
			}
		})
	}
}

// Every object in values.schema.json that lists its properties says what it does with
// others, so that a value added to values.yaml without a schema fails the chart's tests.
func TestHelmValuesSchemaIsClosed(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if _, hasProps := m["properties"]; hasProps {
			if _, closed := m["additionalProperties"]; !closed {
				t.Errorf("%s lists properties but does not set additionalProperties", path)
			}
		}
		for k, e := range m {
			if k == "properties" || k == "$defs" {
				for name, p := range e.(map[string]any) {
					walk(path+"/"+name, p)
				}
				continue
			}
			walk(path+"/"+k, e)
		}
	}
	walk("", schema)
	props, _ := schema["properties"].(map[string]any)
	for _, top := range []string{"cluster", "createCluster", "image", "imagePullSecrets", "manager", "agent", "cni"} {
		if _, ok := props[top]; !ok {
			t.Errorf("values.schema.json has no schema for %s", top)
		}
	}
}
