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

package docgen

import (
	"bytes"
	"flag"
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
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/overlaynet/overlaynet/internal/testenv"
	"github.com/overlaynet/overlaynet/internal/validation"
)

var update = flag.Bool("update", false, "rewrite the generated files under docs/ instead of comparing them")

const rulebookPath = "docs/rulebook.md"

func root() string { return testenv.RepoRoot() }

func rulebook(t *testing.T) []byte {
	t.Helper()
	tests, err := ScanTests(root())
	if err != nil {
		t.Fatal(err)
	}
	cel, err := ScanCEL(filepath.Join(root(), "config", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	return Rulebook(RulebookInput{Rules: validation.Rules, CEL: cel, Tests: tests})
}

// TestRulebookDocIsCurrent fails when docs/rulebook.md differs from what the rule table,
// the CRDs and the test names make of it. `make docs` (this test with -update) rewrites it.
func TestRulebookDocIsCurrent(t *testing.T) {
	want := rulebook(t)
	path := filepath.Join(root(), rulebookPath)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run `make docs`", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is out of date: run `make docs` and commit it (-want +got):\n%s", rulebookPath, diff)
	}
}

// TestEveryCitedRuleIsInTheRuleTable fails, naming the rule and where it is cited, when a
// rule id appears in the code, the manifests, the chart or the docs without an entry in
// internal/validation/rules.go.
func TestEveryCitedRuleIsInTheRuleTable(t *testing.T) {
	cited, err := ScanCitations(root(), rulebookPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range slices.Sorted(maps.Keys(cited)) {
		if _, ok := validation.LookupRule(id); !ok {
			c := cited[id]
			t.Errorf("rule %s is cited at %s:%d but has no entry in validation.Rules: add it to internal/validation/rules.go (statement and enforcement), then run `make docs`", id, c.File, c.Line)
		}
	}
}

// TestRuleTableIsWellFormed checks every entry: a unique, well-formed id, a statement, and
// enforcement locations that exist and cite the rule, so a check moved elsewhere cannot
// leave the docs pointing at the old place.
func TestRuleTableIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range validation.Rules {
		if !regexp.MustCompile(`^[RSBX][0-9]{1,2}$`).MatchString(r.ID) {
			t.Errorf("rule id %q is not of the form R12, S3 or B4", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("rule %s appears twice in validation.Rules", r.ID)
		}
		seen[r.ID] = true
		if strings.TrimSpace(r.Statement) == "" {
			t.Errorf("rule %s has no statement", r.ID)
		}
		for _, e := range r.Enforced {
			pkg, symbol, _ := strings.Cut(e.Where, ".")
			mustCite := e.By != validation.BySchema && e.By != validation.ByAgent
			if err := checkEnforcement(filepath.Join(root(), pkg), r.ID, symbol, mustCite); err != "" {
				t.Errorf("rule %s: %s %s: %s", r.ID, e.By, e.Where, err)
			}
		}
	}
}

// checkEnforcement returns what is wrong with an enforcement location: the package dir
// must exist, declare symbol (when given) and, when mustCite, cite the rule id in its
// non-test sources.
func checkEnforcement(dir, id, symbol string, mustCite bool) string {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		return "no Go package at " + dir
	}
	cites, declares := false, symbol == ""
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(filepath.Base(f), "zz_generated") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err.Error()
		}
		if slices.Contains(RuleID.FindAllString(string(data), -1), id) {
			cites = true
		}
		if !declares {
			af, err := parser.ParseFile(token.NewFileSet(), f, data, parser.SkipObjectResolution)
			if err != nil {
				return err.Error()
			}
			for _, d := range af.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					declares = declares || (d.Recv == nil && d.Name.Name == symbol)
				case *ast.GenDecl:
					for _, s := range d.Specs {
						if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.Name == symbol {
							declares = true
						}
					}
				}
			}
		}
	}
	switch {
	case !declares:
		return "the package declares no " + symbol
	case mustCite && !cites:
		return "the package's sources do not cite " + id
	}
	return ""
}

// TestTroubleshootingExplainsEveryReason fails when a condition reason constant of
// api/v1alpha1 has no section in docs/troubleshooting.md, or when a package outside api/
// declares its own reason constant (reasons live in api/, where users look for them).
func TestTroubleshootingExplainsEveryReason(t *testing.T) {
	reasons := reasonConstants(t, filepath.Join(root(), "api", "v1alpha1"))
	if len(reasons) < 20 {
		t.Fatalf("found only %d reason constants in api/v1alpha1: %v", len(reasons), reasons)
	}
	doc, err := os.ReadFile(filepath.Join(root(), "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(reasons)) {
		if !bytes.Contains(doc, []byte("### `"+reasons[name]+"`")) {
			t.Errorf("docs/troubleshooting.md has no section \"### `%s`\" for api/v1alpha1.%s", reasons[name], name)
		}
	}
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root(), dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			for name, value := range stringConstants(t, path, "Reason") {
				rel, _ := filepath.Rel(root(), path)
				t.Errorf("%s declares reason %s = %q: declare it in api/v1alpha1 and explain it in docs/troubleshooting.md", rel, name, value)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// reasonConstants returns the string constants named Reason* of the package in dir.
func reasonConstants(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{}
	for _, f := range files {
		for k, v := range stringConstants(t, f, "Reason") {
			all[k] = v
		}
	}
	return all
}

// stringConstants returns the constants of one file whose name starts with prefix and
// whose value is a string literal.
func stringConstants(t *testing.T, path, prefix string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, prefix) || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					out[n.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return out
}

// markdownLink matches an inline Markdown link target.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocsStayInsideTheRepository fails when the README or a page of docs/ links to a file
// that does not exist in the repository or points outside it: a user who clones the
// project has nothing else.
func TestDocsStayInsideTheRepository(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(root(), "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, filepath.Join(root(), "README.md"))
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root(), page)
		if bytes.Contains(data, []byte("/shared/")) || bytes.Contains(data, []byte("/work/")) {
			t.Errorf("%s refers to a directory outside the repository", rel)
		}
		for _, m := range markdownLink.FindAllSubmatch(data, -1) {
			target := string(m[1])
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			abs := filepath.Join(filepath.Dir(page), target)
			if r, err := filepath.Rel(root(), abs); err != nil || strings.HasPrefix(r, "..") {
				t.Errorf("%s links to %s, outside the repository", rel, m[1])
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel, m[1])
			}
		}
	}
}

// outsideRefs are ways to point at the product's planning documents, which live outside
// the repository: the repository explains itself (README, docs/).
var outsideRefs = regexp.MustCompile(`SPEC\.md|SPEC §|\.\./shared|/work/shared`)

// TestNothingPointsOutsideTheRepository fails, naming the file and line, when code,
// manifests, the chart or the docs refer to a document a clone does not have.
func TestNothingPointsOutsideTheRepository(t *testing.T) {
	err := filepath.WalkDir(root(), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root() && (skipDir(d.Name()) || d.Name() == "docgen") {
				return filepath.SkipDir
			}
			return nil
		}
		if !slices.Contains(citedExts, filepath.Ext(path)) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			if m := outsideRefs.FindString(line); m != "" {
				rel, _ := filepath.Rel(root(), path)
				t.Errorf("%s:%d refers to %q, outside the repository: point at docs/ instead", rel, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
