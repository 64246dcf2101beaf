/*
Copyright 2026 The overlaynet Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to overlayctl as a file: whatever the input, it exits
// 0, 1 or 2 without panicking, and exit 2 always comes with an error message.
//
// Run it with: go test ./internal/cli -fuzz FuzzDecode
func FuzzDecode(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(samples, "*.yaml"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(header + "spec:\n  vnetCIDRs: [10.240.0.0/12]\n  podCIDRs: [10.244.0.1/16]\n"))
	f.Add([]byte(header + "spec:\n  nodePools: [{name: a, nodeSelector: {matchExpressions: [{key: k, operator: Bogus}]}}]\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("{\"apiVersion\": \"network.overlaynet.io/v1alpha1\", \"kind\": \"OverlayCluster\", \"spec\": {\"vnetCIDRs\": null}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, cmd := range []string{"validate", "plan"} {
			var stdout, stderr bytes.Buffer
			code := Run([]string{cmd, "-f", "-"}, bytes.NewReader(data), &stdout, &stderr)
			switch code {
			case ExitOK, ExitInvalid:
			case ExitUnusable:
				if stderr.Len() == 0 {
					t.Errorf("%s: exit 2 without an error message", cmd)
				}
			default:
				t.Errorf("%s: exit code %d", cmd, code)
			}
		}
	})
}
