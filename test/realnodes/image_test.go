package realnodes

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestProductImageHasTheDockerfilesLayout keeps ProductFiles (the image the real-node tests
// assemble) and the Dockerfile's final stage the same: every file the Dockerfile copies from
// the build stage, at the same path, and the same user and entrypoint.
func TestProductImageHasTheDockerfilesLayout(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fromDockerfile []string
	var user, entrypoint string
	final := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "FROM":
			final = !slices.Contains(fields, "AS") // the last, unnamed stage
		case "USER":
			user = fields[1]
		case "ENTRYPOINT":
			entrypoint = strings.Join(fields[1:], " ")
		case "COPY":
			if !final || len(fields) < 4 || fields[1] != "--from=build" {
				continue
			}
			dest := fields[len(fields)-1]
			for _, src := range fields[2 : len(fields)-1] {
				fromDockerfile = append(fromDockerfile, path.Join(dest, path.Base(src))+" <- "+strings.TrimPrefix(src, "/out/"))
			}
		}
	}
	var ours []string
	for _, pf := range ProductFiles {
		ours = append(ours, pf.Path+" <- "+pf.Source)
	}
	slices.Sort(fromDockerfile)
	slices.Sort(ours)
	if !slices.Equal(fromDockerfile, ours) {
		t.Errorf("the Dockerfile's image holds\n  %s\nthe assembled image\n  %s", strings.Join(fromDockerfile, "\n  "), strings.Join(ours, "\n  "))
	}
	if user != ProductConfig.User || entrypoint != `["`+strings.Join(ProductConfig.Entrypoint, `", "`)+`"]` {
		t.Errorf("Dockerfile USER %s ENTRYPOINT %s; the assembled image %s %v", user, entrypoint, ProductConfig.User, ProductConfig.Entrypoint)
	}
}
