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

// Package docgen generates the parts of docs/ that the code knows better than a writer:
// the rulebook (from internal/validation.Rules, the CRDs' CEL messages and the names of the
// tests), and checks the hand-written parts against the code (every condition reason is
// explained). Its test fails when docs/ drifts; `make docs` regenerates.
package docgen

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// RuleID matches a rule id as a word: S1, R50, B10.
var RuleID = regexp.MustCompile(`\b[RSBX][0-9]{1,2}\b`)

// TestRef is one test that names a rule.
type TestRef struct {
	// File is the test file, relative to the repository root, with forward slashes.
	File string
	// Name is the test's name as written: an It or t.Run description, a table row's name,
	// or a test function.
	Name string
}

// skipDir reports the directories no scan enters: version control, build output and
// fuzz corpora.
func skipDir(name string) bool {
	return name == ".git" || name == "bin" || name == "dist" || name == "testdata" || name == "node_modules" ||
		strings.HasPrefix(name, ".installer.")
}

// testNameCalls are the calls whose first argument names a test: Ginkgo's containers and
// specs, and testing's subtests.
var testNameCalls = map[string]bool{
	"It": true, "FIt": true, "Describe": true, "FDescribe": true, "Context": true, "When": true,
	"Specify": true, "Entry": true, "DescribeTable": true, "Run": true,
}

// nameKeys are the struct fields that name a table-test row.
var nameKeys = map[string]bool{"Name": true, "name": true, "desc": true, "title": true}

// ScanTests walks the Go test files under root and returns, per rule id, the tests whose
// names cite it, in file then source order. Tests are named by the rule they prove (a
// "R5 DNS IP equal to the first host is rejected" row, an It("... (R51)")).
func ScanTests(root string) (map[string][]TestRef, error) {
	refs := map[string][]TestRef{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		names, err := testNames(path)
		if err != nil {
			return err
		}
		for _, n := range names {
			if !strings.Contains(n, " ") {
				continue // a bare key such as "R5" is data, not a test's sentence
			}
			seen := map[string]bool{}
			for _, id := range RuleID.FindAllString(n, -1) {
				if !seen[id] {
					seen[id] = true
					refs[id] = append(refs[id], TestRef{File: filepath.ToSlash(rel), Name: n})
				}
			}
		}
		return nil
	})
	return refs, err
}

// testNames returns the test names in one Go test file, in source order.
func testNames(path string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var names []string
	str := func(e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				names = append(names, s)
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			if n.Recv == nil && (strings.HasPrefix(n.Name.Name, "Test") || strings.HasPrefix(n.Name.Name, "Fuzz")) {
				// TestR51_KeepsBlocks names R51.
				names = append(names, n.Name.Name[:4]+" "+strings.ReplaceAll(n.Name.Name[4:], "_", " "))
			}
		case *ast.CallExpr:
			var fn string
			switch f := n.Fun.(type) {
			case *ast.Ident:
				fn = f.Name
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			}
			if testNameCalls[fn] && len(n.Args) > 0 {
				str(n.Args[0])
			}
		case *ast.KeyValueExpr:
			if k, ok := n.Key.(*ast.Ident); ok && nameKeys[k.Name] {
				str(n.Value)
			}
			str(n.Key) // map-keyed tables: "R10 IPv4 pod CIDR /16 ...": {...}
		}
		return true
	})
	return slices.Compact(names), nil
}

// ScanCEL reads the CRDs in dir and returns, per rule id, the kinds whose CEL validation
// rules (x-kubernetes-validations) cite it in their message.
func ScanCEL(dir string) (map[string][]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	cel := map[string][]string{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			return nil, err
		}
		kind := crd.Spec.Names.Kind
		for _, v := range crd.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			walkSchema(v.Schema.OpenAPIV3Schema, func(r apiextensionsv1.ValidationRule) {
				for _, id := range RuleID.FindAllString(r.Message+" "+r.MessageExpression, -1) {
					if !slices.Contains(cel[id], kind) {
						cel[id] = append(cel[id], kind)
					}
				}
			})
		}
	}
	return cel, nil
}

// walkSchema calls fn for every CEL rule of s and its sub-schemas.
func walkSchema(s *apiextensionsv1.JSONSchemaProps, fn func(apiextensionsv1.ValidationRule)) {
	if s == nil {
		return
	}
	for _, r := range s.XValidations {
		fn(r)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Properties)) {
		p := s.Properties[k]
		walkSchema(&p, fn)
	}
	if s.Items != nil {
		walkSchema(s.Items.Schema, fn)
	}
	if s.AdditionalProperties != nil {
		walkSchema(s.AdditionalProperties.Schema, fn)
	}
}

// Citation is a place a rule id is cited.
type Citation struct {
	// File is relative to the repository root.
	File string
	// Line is 1-based.
	Line int
}

// citedExts are the files whose rule citations count: code, manifests, chart, docs.
var citedExts = []string{".go", ".yaml", ".yml", ".tpl", ".json", ".md"}

// ScanCitations returns, per rule id, the first place under root that cites it, skipping
// the generated files in skip (relative paths).
func ScanCitations(root string, skip ...string) (map[string]Citation, error) {
	cited := map[string]Citation{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !slices.Contains(citedExts, filepath.Ext(path)) {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if slices.Contains(skip, rel) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, id := range RuleID.FindAllString(line, -1) {
				if _, ok := cited[id]; !ok {
					cited[id] = Citation{File: rel, Line: i + 1}
				}
			}
		}
		return nil
	})
	return cited, err
}
