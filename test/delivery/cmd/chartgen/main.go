// Command chartgen regenerates the parts of charts/overlaynet that come from config/: the
// CRDs, the RBAC rules and the values schema (package chartgen). `make chart` runs it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/overlaynet/overlaynet/test/delivery/internal/chartgen"
)

func main() {
	root := flag.String("root", "../..", "The repository's root directory.")
	flag.Parse()
	changed, err := chartgen.Write(*root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chartgen: %v\n", err)
		os.Exit(1)
	}
	for _, f := range changed {
		fmt.Printf("chartgen: wrote %s/%s\n", chartgen.ChartDir, f)
	}
	if len(changed) == 0 {
		fmt.Printf("chartgen: %s is up to date\n", chartgen.ChartDir)
	}
}
