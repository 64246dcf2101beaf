package docgen

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestScanTestsFindsEveryWayATestNamesARule covers the shapes tests are named in: a test
// function, a t.Run, a Ginkgo It, a table row's Name and a map-keyed table.
func TestScanTestsFindsEveryWayATestNamesARule(t *testing.T) {
	dir := t.TempDir()
	src := `package x

import "testing"

func TestR51_KeepsBlocks(t *testing.T) {
	t.Run("R5 DNS IP equal to the first host is rejected", nil)
	_ = []struct{ Name string }{{Name: "B1 a CIDR is appended"}}
	_ = map[string]int{"R10 a /16 holds 256 blocks": 1}
	It("refuses a change of nodeUID (B4)", nil)
	_ = "R2 in a plain string is no test name"
	_ = map[string]int{"R7": 7} // a bare id is data, not a test name
}
`
	if err := os.WriteFile(filepath.Join(dir, "x_test.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ScanTests(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]TestRef{
		"R51": {{"x_test.go", "Test R51 KeepsBlocks"}},
		"R5":  {{"x_test.go", "R5 DNS IP equal to the first host is rejected"}},
		"B1":  {{"x_test.go", "B1 a CIDR is appended"}},
		"R10": {{"x_test.go", "R10 a /16 holds 256 blocks"}},
		"B4":  {{"x_test.go", "refuses a change of nodeUID (B4)"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ScanTests (-want +got):\n%s", diff)
	}
}
