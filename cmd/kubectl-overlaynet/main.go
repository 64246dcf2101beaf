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

// Command kubectl-overlaynet is the kubectl plugin (`kubectl overlaynet ...` once it is on
// the PATH): the cluster's address space, its nodes, why a node is not ready, and
// overlayctl's offline validate and plan. The commands live in internal/cli.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/overlaynet/overlaynet/internal/cli"
)

func main() {
	os.Exit(cli.RunPlugin(os.Args[1:], cli.PluginOptions{
		Streams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
	}))
}
