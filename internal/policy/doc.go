// Package policy owns the fleet policy (agops.dev/v1alpha1 FleetPolicy): one YAML document that says which tool
// servers, MCP tools and HTTP routes each agent or team may use, under which argument conditions (CEL), with which
// limits, which calls need a human's approval, and which guidance each agent gets.
//
// Data enters through Parse or Load, which validate the whole document (every problem at once, each with its field
// path) and compile every expression. Decisions are made by Policy.Decide, on the gateway's hot path: default deny,
// fleet rules before grants, approval before allow, fail closed on any evaluation error. Allowed filters tool lists,
// Guidance hands out behavioral guidance, Explain shows a person how a call is judged, and Effective shows everything
// one agent may call, with the verdict Decide gives for each (effective.go). Expressions get helpers that look at every
// argument, not only the top level (allStrings, allNumbers, hasTraversal, hasAbsPath, between: helpers.go,
// pathcheck.go), and Warnings lists the likely mistakes of a valid policy (lint.go). The format and its semantics are
// documented in docs/policy.md; the JSON schema is docs/policy.schema.json.
package policy
