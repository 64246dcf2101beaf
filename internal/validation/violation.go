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

package validation

import (
	"fmt"
	"slices"
	"strings"
)

// Violation is one broken rule: which rule, where, and what is wrong with which values.
type Violation struct {
	// Rule is the rule id: R1–R54 and B1–B10 of the rulebook (Rules, docs/rulebook.md), or S1–S6 for the schema rules
	// (see the package documentation).
	Rule string
	// Field is the path of the offending field, such as spec.podCIDRs[0].
	Field string
	// Message says what is wrong, naming the values involved.
	Message string
}

// Error formats the violation as "spec.podCIDRs[0]: 10.244.0.0/16 overlaps
// spec.vnetCIDRs[1] 10.244.0.0/12 (R2)".
func (v Violation) Error() string {
	return fmt.Sprintf("%s: %s (%s)", v.Field, v.Message, v.Rule)
}

// Violations are every rule a spec breaks, in the order the rules were checked.
type Violations []Violation

// Error joins the violations with "; ".
func (vs Violations) Error() string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.Error()
	}
	return strings.Join(s, "; ")
}

// Rules returns the ids of the broken rules, sorted and without duplicates.
func (vs Violations) Rules() []string {
	ids := make([]string, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, v.Rule)
	}
	slices.SortFunc(ids, compareRuleIDs)
	return slices.Compact(ids)
}

// Err returns the violations as an error, or nil when there are none, so that callers can
// write `if err := validation.ValidateSpec(spec).Err(); err != nil`.
func (vs Violations) Err() error {
	if len(vs) == 0 {
		return nil
	}
	return vs
}

// compareRuleIDs orders ids by letter, then numerically: R2 before R10.
func compareRuleIDs(a, b string) int {
	if a == "" || b == "" || a[0] != b[0] {
		return strings.Compare(a, b)
	}
	var na, nb int
	_, errA := fmt.Sscanf(a[1:], "%d", &na)
	_, errB := fmt.Sscanf(b[1:], "%d", &nb)
	if errA != nil || errB != nil || na == nb {
		return strings.Compare(a, b)
	}
	return na - nb
}

// list collects violations; add formats the message.
type list struct{ vs Violations }

func (l *list) add(rule, field, format string, args ...any) {
	l.vs = append(l.vs, Violation{Rule: rule, Field: field, Message: fmt.Sprintf(format, args...)})
}
