// Package standin owns the stand-in: what runs in place of a container's image when agops rehearses a project's
// network topology without its images (`agops rehearse --stand-ins`).
//
// A stand-in is the agops binary of the helper image running `agops stand-in`. It listens on every port its
// container would listen on (TCP answers HTTP on any path with 200, so httpGet probes pass; UDP answers a datagram
// with a datagram), keeps dialing every address its container's configuration names (URLs, host:port,
// DB_HOST+DB_PORT in its environment and original command) and the ports of every workload of the project, and
// writes one report line per round to its log (see Report and ParseLog).
//
// The package has four parts, in the order a rehearsal uses them:
//
//   - Apply turns rendered manifests into their stand-in form: every container that does not run the helper image
//     runs a stand-in instead, with its environment, mounts and security context kept, probes a stand-in can
//     answer, small resource requests, and the list of peers to dial (Note records each change).
//   - Run is the stand-in process itself; Check is what replaces exec probes.
//   - ParseLog reads the reports back from pod logs.
//   - Measure aggregates the reports into a measured reachability matrix, and Compare sets it beside what
//     `agops check` predicted (internal/check/reach) and what Compose allowed.
//
// Measure and Compare use only the "probe" targets: those name the workload they reach. The addresses a
// container's configuration names are reported for the user ("does my DATABASE_URL connect?") but not placed in
// the matrix.
package standin
