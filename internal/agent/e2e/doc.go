// Package e2e proves durable agent runs end to end with real parts: an embedded Temporal server, the agops gateway
// in front of a real MCP server, agops workers (in process and as killed processes) and a scripted
// OpenAI-compatible model server standing in for the model.
package e2e
