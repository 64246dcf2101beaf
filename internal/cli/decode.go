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
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// maxInput bounds what overlayctl reads: an OverlayCluster is a few kilobytes, and the API
// server refuses requests above 3 MiB anyway.
const maxInput = 3 << 20

// decoder decodes the overlaynet types strictly, as the API server does for kubectl apply
// --validate=strict: field names are case-sensitive, and unknown or duplicate fields are
// errors.
var decoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// readFile reads path, or standard input when path is "-".
func readFile(path string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("larger than %d bytes: not an OverlayCluster", maxInput)
	}
	return data, nil
}

// decodeCluster reads the one OverlayCluster that data (YAML or JSON, as written for
// kubectl apply) holds. Anything else is an error that says what is wrong: malformed
// YAML, no document or several, another kind or apiVersion, unknown or duplicate fields.
func decodeCluster(data []byte) (*v1alpha1.OverlayCluster, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	switch len(docs) {
	case 0:
		return nil, errors.New("no OverlayCluster: the input is empty")
	case 1:
	default:
		return nil, fmt.Errorf("%d YAML documents: overlayctl reads exactly one OverlayCluster", len(docs))
	}
	doc := docs[0]

	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, fmt.Errorf("not an OverlayCluster: %w", err)
	}
	want := v1alpha1.GroupVersion.WithKind("OverlayCluster")
	switch {
	case tm.APIVersion == "" || tm.Kind == "":
		return nil, fmt.Errorf("apiVersion and kind are required: want apiVersion: %s and kind: %s", want.GroupVersion(), want.Kind)
	case tm.Kind != want.Kind:
		return nil, fmt.Errorf("kind %s is not %s", tm.Kind, want.Kind)
	case tm.APIVersion != want.GroupVersion().String():
		return nil, fmt.Errorf("apiVersion %s is not %s", tm.APIVersion, want.GroupVersion())
	}

	obj, gvk, err := decoder.Decode(doc, nil, nil)
	if err != nil {
		if runtime.IsStrictDecodingError(err) {
			return nil, fmt.Errorf("not a valid OverlayCluster: %w", err)
		}
		return nil, fmt.Errorf("decoding the OverlayCluster: %w", err)
	}
	oc, ok := obj.(*v1alpha1.OverlayCluster)
	if !ok || *gvk != want {
		return nil, fmt.Errorf("decoded a %s, not an OverlayCluster", gvk)
	}
	return oc, nil
}

// documents splits a YAML stream into its non-empty documents.
func documents(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading YAML: %w", err)
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("malformed YAML: %w", err)
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue // only comments or blank lines
		}
		out = append(out, doc)
	}
}
