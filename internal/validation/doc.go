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

// Package validation is the rulebook (docs/rulebook.md) as pure functions over an
// OverlayClusterSpec. The controller and overlayctl call it; the CRD's CEL rules
// (api/v1alpha1/overlaycluster_types.go) are its admission twin, and a test
// (admission_test.go) runs one shared table of specs through both and requires the same
// verdict and the rule id in the API server's message. The cross-field CEL rules are
// generated from celmarkers_test.go, and celcost_test.go prices them with the API
// server's own CRD validation.
//
// # Where each rule is enforced
//
// Rules (rules.go) is the rulebook's table: every rule id with its statement and where it
// is enforced besides CEL. docs/rulebook.md is generated from it, from the CRDs' CEL
// messages and from the names of the tests (`make docs`, internal/docgen), and a test
// there fails, naming the rule, when an id is cited anywhere without an entry.
//
// The S rules are the schema's own checks. Where the OpenAPI schema rather than CEL
// rejects a value (S4, S5, too-long strings), the API server's message is its own and
// does not carry the rule id; a string longer than the schema allows is never a canonical
// CIDR or IP, so Go reports it as S1, S2 or S3.
//
// Capacity rules (R8, R13, R14's 251 nodes, R31, R33, R41's 8 nodes) are the planner's
// (internal/plan); R8's "several Kubenet clusters cannot share one subnet" concerns
// several clusters and is checked by nothing here.
package validation
