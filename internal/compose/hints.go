package compose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// HintKey is the extension key agops reads on services and volumes.
const HintKey = "x-agops"

// ServiceHints are the x-agops settings of one service. Every field is optional. The schema is documented in
// docs/x-agops.md.
type ServiceHints struct {
	// Kind forces the workload kind: Deployment, StatefulSet, DaemonSet or Job.
	Kind string `json:"kind,omitempty"`
	// Replicas sets the replica count in every overlay.
	Replicas *int32 `json:"replicas,omitempty"`
	// Ports lists container ports of a service that declares none ("8080", "53/udp" or numbers).
	Ports []PortHint `json:"ports,omitempty"`
	// Storage sets size and class for the PVCs of this service's named volumes.
	Storage *StorageHint `json:"storage,omitempty"`
	// Probe replaces the probes derived from healthcheck.
	Probe *ProbeHint `json:"probe,omitempty"`
	// Accelerator names the extended resource for devices agops does not recognise, e.g. an NPU.
	Accelerator *AcceleratorHint `json:"accelerator,omitempty"`
	// Role says what the service is (agent-worker, tool-server, llm-server, vector-db, ...); it picks the tier.
	Role string `json:"role,omitempty"`
	// Tier places the service in a tier namespace: web, ai-lab or data.
	Tier string `json:"tier,omitempty"`
	// User is the numeric uid[:gid] to run as when Compose names a user agops cannot resolve.
	User string `json:"user,omitempty"`
	// Bind maps a directory bind mount's container path to how it should be carried over: "pvc", "emptydir" or
	// "hostpath".
	Bind map[string]string `json:"bind,omitempty"`
	// Runtime says what runs an agent worker (role agent-worker): "agops" (the default: `agops worker` from the agops
	// image) or "own" (the service's own image and command).
	Runtime string `json:"runtime,omitempty"`
	// TaskQueue is the Temporal task queue an agops worker polls (agops worker --task-queue).
	TaskQueue string `json:"taskQueue,omitempty"`
}

// The runtimes of an agent worker.
const (
	RuntimeAgops = "agops"
	RuntimeOwn   = "own"
)

// RoleAgentWorker is the x-agops.role of agent workers.
const RoleAgentWorker = "agent-worker"

// PortHint is a container port with an optional protocol.
type PortHint struct {
	Port     int32
	Protocol string // tcp, udp or sctp
}

// UnmarshalJSON accepts 8080, "8080" and "8080/udp".
func (p *PortHint) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	num, proto, _ := strings.Cut(s, "/")
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %s: must be 1-65535, optionally with /tcp, /udp or /sctp", s)
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "", "tcp", "udp", "sctp":
	default:
		return fmt.Errorf("port %s: unknown protocol %q", s, proto)
	}
	if proto == "" {
		proto = "tcp"
	}
	*p = PortHint{Port: int32(n), Protocol: proto}
	return nil
}

// StorageHint sizes a PersistentVolumeClaim.
type StorageHint struct {
	Size  string `json:"size,omitempty"`
	Class string `json:"class,omitempty"`
	// AccessMode is ReadWriteOnce (default), ReadWriteMany or ReadWriteOncePod.
	AccessMode string `json:"accessMode,omitempty"`
}

// ProbeHint is a probe given by hand. Exactly one of HTTP, TCP, Exec or None.
type ProbeHint struct {
	HTTP *struct {
		Path string `json:"path"`
		Port int32  `json:"port"`
	} `json:"http,omitempty"`
	TCP  int32    `json:"tcp,omitempty"`
	Exec []string `json:"exec,omitempty"`
	None bool     `json:"none,omitempty"`
	// InitialDelay, Period in seconds; zero keeps defaults.
	InitialDelay int32 `json:"initialDelay,omitempty"`
	Period       int32 `json:"period,omitempty"`
}

// AcceleratorHint asks for an extended resource.
type AcceleratorHint struct {
	Resource     string `json:"resource"`
	Count        int64  `json:"count,omitempty"`
	RuntimeClass string `json:"runtimeClass,omitempty"`
}

// VolumeHints are the x-agops settings of a top-level volume.
type VolumeHints = StorageHint

// Hints returns the x-agops hints of a service; a malformed value is an error naming the service.
func Hints(s types.ServiceConfig) (ServiceHints, error) {
	var h ServiceHints
	if err := decodeExtension(s.Extensions, &h); err != nil {
		return h, fmt.Errorf("service %q: %s: %w", s.Name, HintKey, err)
	}
	switch h.Kind {
	case "", "Deployment", "StatefulSet", "DaemonSet", "Job":
	default:
		return h, fmt.Errorf("service %q: %s.kind: %q is not one of Deployment, StatefulSet, DaemonSet, Job", s.Name, HintKey, h.Kind)
	}
	switch h.Tier {
	case "", "web", "ai-lab", "data":
	default:
		return h, fmt.Errorf("service %q: %s.tier: %q is not one of web, ai-lab, data", s.Name, HintKey, h.Tier)
	}
	if h.Replicas != nil && *h.Replicas < 0 {
		return h, fmt.Errorf("service %q: %s.replicas: must not be negative", s.Name, HintKey)
	}
	for path, how := range h.Bind {
		switch how {
		case "pvc", "emptydir", "hostpath", "configmap":
		default:
			return h, fmt.Errorf("service %q: %s.bind[%s]: %q is not one of pvc, emptydir, hostpath, configmap", s.Name, HintKey, path, how)
		}
	}
	if err := h.check(); err != nil {
		return h, fmt.Errorf("service %q: %s.%w", s.Name, HintKey, err)
	}
	return h, nil
}

var (
	quantity    = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$`)
	numericUser = regexp.MustCompile(`^[0-9]+(:[0-9]+)?$`)
	// taskQueue: printable ASCII without spaces; no leading '-', which would read as a flag of agops worker.
	taskQueue    = regexp.MustCompile(`^[!-,.-~][!-~]{0,254}$`)
	resourceName = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
)

// check validates the values the JSON schema constrains beyond their types.
func (h ServiceHints) check() error {
	if err := h.Storage.check(); err != nil {
		return fmt.Errorf("storage.%w", err)
	}
	if h.User != "" && !numericUser.MatchString(h.User) {
		return fmt.Errorf("user: %q must be numeric, UID or UID:GID", h.User)
	}
	if err := h.checkWorker(); err != nil {
		return err
	}
	if a := h.Accelerator; a != nil {
		if !resourceName.MatchString(a.Resource) || !strings.Contains(a.Resource, "/") {
			return fmt.Errorf("accelerator.resource: %q must be an extended resource name like vendor.com/npu", a.Resource)
		}
		if a.Count < 0 {
			return fmt.Errorf("accelerator.count: must not be negative")
		}
	}
	if p := h.Probe; p != nil {
		set := 0
		for _, b := range []bool{p.HTTP != nil, p.TCP != 0, len(p.Exec) > 0, p.None} {
			if b {
				set++
			}
		}
		switch {
		case set != 1:
			return fmt.Errorf("probe: give exactly one of http, tcp, exec or none")
		case p.HTTP != nil && (p.HTTP.Port < 1 || p.HTTP.Port > 65535):
			return fmt.Errorf("probe.http.port: must be 1-65535")
		case p.TCP < 0 || p.TCP > 65535:
			return fmt.Errorf("probe.tcp: must be 1-65535")
		case p.InitialDelay < 0 || p.Period < 0:
			return fmt.Errorf("probe: initialDelay and period must not be negative")
		}
	}
	return nil
}

// checkWorker validates runtime and taskQueue, which only an agent worker run by agops has.
func (h ServiceHints) checkWorker() error {
	switch h.Runtime {
	case "", RuntimeAgops, RuntimeOwn:
	default:
		return fmt.Errorf("runtime: %q is not one of agops, own", h.Runtime)
	}
	if h.Runtime != "" && h.Role != RoleAgentWorker {
		return fmt.Errorf("runtime: applies to role %s only", RoleAgentWorker)
	}
	if h.TaskQueue == "" {
		return nil
	}
	switch {
	case h.Role != RoleAgentWorker || h.Runtime == RuntimeOwn:
		return fmt.Errorf("taskQueue: applies to role %s run by agops (not runtime: own)", RoleAgentWorker)
	case !taskQueue.MatchString(h.TaskQueue) || strings.HasPrefix(h.TaskQueue, "/_sys/"):
		return fmt.Errorf("taskQueue: %q must be 1-255 printable characters without spaces, not starting with - or /_sys/", h.TaskQueue)
	}
	return nil
}

func (s *StorageHint) check() error {
	if s == nil {
		return nil
	}
	if s.Size != "" && !quantity.MatchString(s.Size) {
		return fmt.Errorf("size: %q is not a size like 10Gi or 500Mi", s.Size)
	}
	switch s.AccessMode {
	case "", "ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod", "ReadOnlyMany":
	default:
		return fmt.Errorf("accessMode: %q is not one of ReadWriteOnce, ReadWriteMany, ReadWriteOncePod, ReadOnlyMany", s.AccessMode)
	}
	return nil
}

// VolumeHint returns the x-agops hints of a top-level volume.
func VolumeHint(name string, v types.VolumeConfig) (VolumeHints, error) {
	var h VolumeHints
	if err := decodeExtension(v.Extensions, &h); err != nil {
		return h, fmt.Errorf("volume %q: %s: %w", name, HintKey, err)
	}
	if err := h.check(); err != nil {
		return h, fmt.Errorf("volume %q: %s.%w", name, HintKey, err)
	}
	return h, nil
}

func decodeExtension(ext types.Extensions, into any) error {
	raw, ok := ext[HintKey]
	if !ok || raw == nil {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return typeError(te)
		}
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// typeError says in YAML's words, not Go's, that a value has the wrong type.
func typeError(te *json.UnmarshalTypeError) error {
	got := te.Value
	if kind, _, _ := strings.Cut(got, " "); kind != "" {
		got = map[string]string{"object": "mapping", "array": "list", "bool": "boolean"}[kind]
		if got == "" {
			got = kind
		}
	}
	t := te.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var want string
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "an integer"
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Slice, reflect.Array:
		want = "a list"
	default:
		want = "a mapping"
	}
	if te.Field == "" {
		return fmt.Errorf("must be %s, not a %s", want, got)
	}
	return fmt.Errorf("%s: must be %s, not a %s", te.Field, want, got)
}
