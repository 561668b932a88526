package plan

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/model"
)

// Model serving. Docker Model Runner serves a Compose project's models: (GGUF models distributed as OCI artifacts,
// ai/<name> on Docker Hub) with a llama.cpp engine behind an OpenAI-compatible API. In the cluster each model becomes
// a llama.cpp server (llama-server, the engine Model Runner runs) in the ai-lab tier: an init container copies the
// weights from the model's OCI artifact into a volume that survives restarts, the server loads them, and its
// readiness probe (/health answers 200 only once the model is loaded) holds back the services that use it.
const (
	// ModelServerImage is llama.cpp's server; ModelServerImageCUDA the same built for NVIDIA GPUs.
	ModelServerImage     = "ghcr.io/ggml-org/llama.cpp:server-b6770"
	ModelServerImageCUDA = "ghcr.io/ggml-org/llama.cpp:server-cuda-b6770"
	// modelPort is where llama-server listens; modelDir is where the weights volume is mounted.
	modelPort = 8080
	modelDir  = "/models"
	// ModelFile is the weights' file name in the volume: agops model pull writes it, llama-server reads it.
	ModelFile = "model.gguf"
	// modelAPIPath is the OpenAI-compatible API's base path, which the URL variables end with, as Model Runner's
	// (http://model-runner.docker.internal/engines/v1/) do.
	modelAPIPath = "/v1/"
	// modelLoadAllowance is how long a model server may take to load its weights before it counts as failed.
	modelLoadAllowance = 15 * time.Minute
)

// ModelHints are the x-agops settings of a top-level model.
type ModelHints struct {
	// Accelerator asks for a GPU (or another device) for the model's server.
	Accelerator *compose.AcceleratorHint `json:"accelerator,omitempty"`
	// Memory is the server's memory request ("6Gi"); by default it comes from the model's size.
	Memory string `json:"memory,omitempty"`
	// Storage sizes the weights volume.
	Storage *compose.StorageHint `json:"storage,omitempty"`
	// Image replaces the llama.cpp server image.
	Image string `json:"image,omitempty"`
}

// modelUse is one model the project serves: its Compose key, its settings and the service that serves it.
type modelUse struct {
	key     string
	cfg     types.ModelConfig
	hints   ModelHints
	service string // the Compose name of the server the plan adds
	size    modelSize
}

// ruleModels adds a model server for every model a service uses — top-level models: and the older provider services
// of type model — and gives each service that uses one the variables Model Runner would: <MODEL>_URL and
// <MODEL>_MODEL (or endpoint_var and model_var), pointing at the server by its name, plus a wait until it is ready.
// The rules that follow treat the servers as services Compose had declared.
func (pl *planner) ruleModels() {
	uses := pl.providerModels()
	byKey := map[string]*modelUse{}
	for _, u := range uses {
		byKey[u.key] = u
	}
	for _, n := range pl.order {
		for _, key := range sortedKeys(pl.svcs[n].Models) {
			if byKey[key] != nil {
				continue
			}
			cfg, ok := pl.p.Models[key]
			if !ok {
				pl.fail("service %q: models: unknown model %q", n, key)
				continue
			}
			u := &modelUse{key: key, cfg: cfg}
			if err := modelHints(cfg.Extensions, &u.hints); err != nil {
				pl.fail("models.%s: %v", key, err)
				continue
			}
			u.service = key
			for i := 2; pl.taken(u.service); i++ {
				u.service = fmt.Sprintf("%s-model-%d", key, i)
				if i == 2 {
					u.service = key + "-model"
				}
			}
			byKey[key] = u
			uses = append(uses, u)
		}
	}
	for _, key := range sortedKeys(pl.p.Models) {
		if byKey[key] == nil {
			pl.record("", "models."+key, model.Dropped, "no service uses this model, so nothing serves it", "")
		}
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].key < uses[j].key })
	for _, u := range uses {
		pl.addModelServer(u)
	}
	for _, n := range pl.order {
		pl.wireModels(n, byKey)
	}
	pl.models = uses
}

// providerModels turns the services declared as `provider: {type: model, options: {model: ...}}` into models served
// under the service's own name; other providers are left for the containers rule to report.
func (pl *planner) providerModels() []*modelUse {
	var out []*modelUse
	for _, n := range slices.Clone(pl.order) {
		s := pl.svcs[n]
		if s.Provider == nil {
			continue
		}
		if s.Provider.Type != "model" {
			pl.dropProvider(n)
			continue
		}
		cfg := types.ModelConfig{Name: n}
		if v := s.Provider.Options["model"]; len(v) > 0 {
			cfg.Model = v[0]
		}
		if v := s.Provider.Options["context-size"]; len(v) > 0 {
			cfg.ContextSize, _ = strconv.Atoi(v[0])
		}
		cfg.RuntimeFlags = s.Provider.Options["runtime-flags"]
		if cfg.Model == "" {
			pl.fail("service %q: provider of type model without options.model", n)
			continue
		}
		u := &modelUse{key: n, cfg: cfg, service: n}
		if err := modelHints(s.Extensions, &u.hints); err != nil {
			pl.fail("service %q: %v", n, err)
			continue
		}
		pl.record(n, "provider", model.Mapped, fmt.Sprintf(
			"provider of type model: served in the cluster like a models: entry (see models.%s); services that depend on it get %s_URL and %s_MODEL",
			n, envPrefix(n), envPrefix(n)), "")
		out = append(out, u)
	}
	return out
}

// dropProvider removes a service that a Compose provider plugin other than Model Runner provisions: nothing in the
// cluster runs the plugin, so the decision names what to deploy instead, and the services that depend on it stop
// waiting for it.
func (pl *planner) dropProvider(n string) {
	p := pl.svcs[n].Provider
	var opts []string
	for _, k := range sortedKeys(p.Options) {
		opts = append(opts, k+"="+strings.Join(p.Options[k], ","))
	}
	what := "provider " + p.Type
	if len(opts) > 0 {
		what += " (" + strings.Join(opts, ", ") + ")"
	}
	pl.record(n, "provider", model.NeedsInput, fmt.Sprintf(
		"%s is provisioned by a Compose provider plugin, which the cluster does not run: no workload is made for it", what),
		fmt.Sprintf("deploy what %s provisions in the cluster (its operator or Helm chart, or a managed service), then replace service %s with an ordinary service or set its address in the services that use it", p.Type, n))
	delete(pl.svcs, n)
	pl.noWorkload[n] = "provisioned by a provider plugin: not deployed"
	pl.order = slices.DeleteFunc(pl.order, func(m string) bool { return m == n })
	for _, m := range pl.order {
		s := pl.svcs[m]
		if _, ok := s.DependsOn[n]; ok {
			deps := maps.Clone(s.DependsOn)
			delete(deps, n)
			s.DependsOn = deps
			pl.svcs[m] = s
			pl.record(m, "depends_on", model.Approximated, fmt.Sprintf("no wait for %s: it is a provider service, not deployed", n), "")
		}
	}
}

func modelHints(ext types.Extensions, h *ModelHints) error {
	raw, ok := ext[compose.HintKey]
	if !ok {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return fmt.Errorf("x-agops: %w", err)
	}
	if err := json.Unmarshal(b, h); err != nil {
		return fmt.Errorf("x-agops: %w", err)
	}
	return nil
}

// addModelServer declares the server of one model as a Compose service: llama-server on the weights volume, with the
// model's context size and runtime flags, on the networks of the services that use it.
func (pl *planner) addModelServer(u *modelUse) {
	u.size = modelSizeOf(u.cfg.Model)
	image := ModelServerImage
	h := compose.ServiceHints{
		Role:  "llm-server",
		Kind:  "StatefulSet",
		Ports: []compose.PortHint{{Port: modelPort, Protocol: "tcp"}},
		Probe: &compose.ProbeHint{HTTP: &struct {
			Path string `json:"path"`
			Port int32  `json:"port"`
		}{Path: "/health", Port: modelPort}, Period: 10},
	}
	if a := u.hints.Accelerator; a != nil {
		accel := *a
		if accel.Resource == nvidiaGPU {
			image = ModelServerImageCUDA
			if accel.RuntimeClass == "" {
				accel.RuntimeClass = "nvidia"
			}
		}
		h.Accelerator = &accel
	}
	if u.hints.Image != "" {
		image = u.hints.Image
	}
	args := []string{"--model", modelDir + "/" + ModelFile, "--host", "0.0.0.0", "--port", strconv.Itoa(modelPort),
		"--alias", u.cfg.Model}
	if u.cfg.ContextSize > 0 {
		args = append(args, "--ctx-size", strconv.Itoa(u.cfg.ContextSize))
	}
	if h.Accelerator != nil {
		args = append(args, "--n-gpu-layers", "999")
	}
	args = append(args, u.cfg.RuntimeFlags...)

	volume := pl.modelVolume(u)
	h.Storage = &compose.StorageHint{Size: u.size.storage()}
	if u.hints.Storage != nil {
		h.Storage = u.hints.Storage
	}
	memory := u.size.memory()
	if u.hints.Memory != "" {
		if q, ok := parseQuantity(u.hints.Memory); ok && q >= 1<<20 {
			memory = int64(q)
		} else {
			pl.fail("models.%s: x-agops.memory: %q is not a memory size such as 8Gi", u.key, u.hints.Memory)
		}
	}
	s := types.ServiceConfig{Name: u.service}
	s.Image, s.Command, s.Restart = image, args, types.RestartPolicyUnlessStopped
	s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: volume, Target: modelDir}}
	s.Networks = map[string]*types.ServiceNetworkConfig{}
	s.Deploy = &types.DeployConfig{Resources: types.Resources{
		Reservations: &types.Resource{NanoCPUs: 1, MemoryBytes: types.UnitBytes(memory)},
		Limits:       &types.Resource{MemoryBytes: types.UnitBytes(memory + memory/2)},
	}}
	pl.svcs[u.service] = s
	pl.hints[u.service] = h
	if !slices.Contains(pl.order, u.service) {
		pl.order = append(pl.order, u.service)
		sort.Strings(pl.order)
	}
	pl.modelServers[u.service] = u
	how := "size unknown from its name: defaults"
	if u.size.known() {
		how = fmt.Sprintf("about %s of weights (%s parameters at %s)", formatBytes(float64(u.size.weights())), u.size.params, u.size.quant)
	}
	outcome := model.Mapped
	hint := ""
	if !u.size.known() && u.hints.Memory == "" {
		outcome, hint = model.Approximated, fmt.Sprintf("x-agops: {memory: 8Gi, storage: {size: 20Gi}} on models.%s", u.key)
	}
	pl.record(u.service, "models."+u.key, outcome, fmt.Sprintf(
		"model %s served by llama.cpp's server (%s, the engine Docker Model Runner runs) on port %d with an OpenAI-compatible API at %s; the weights come from the model's OCI artifact into volume %s before it starts; %s: memory request %s, volume %s",
		u.cfg.Model, image, modelPort, modelAPIPath, volume, how, formatBytes(float64(memory)), h.Storage.Size), hint)
}

// modelVolume declares the named volume that keeps a model's weights.
func (pl *planner) modelVolume(u *modelUse) string {
	name := u.service + "-weights"
	if pl.p.Volumes == nil {
		pl.p.Volumes = types.Volumes{}
	}
	for i := 2; ; i++ {
		if _, used := pl.p.Volumes[name]; !used {
			break
		}
		name = fmt.Sprintf("%s-weights-%d", u.service, i)
	}
	pl.p.Volumes[name] = types.VolumeConfig{Name: name}
	return name
}

// wireModels gives a service the variables of the models it uses, the networks of their servers and a wait for them.
func (pl *planner) wireModels(n string, byKey map[string]*modelUse) {
	s := pl.svcs[n]
	type wanted struct {
		key, urlVar, modelVar string
	}
	var want []wanted
	for _, key := range sortedKeys(s.Models) {
		cfg := s.Models[key]
		prefix := envPrefix(key)
		w := wanted{key: key, urlVar: prefix + "_URL", modelVar: prefix + "_MODEL"}
		if cfg != nil && cfg.EndpointVariable != "" {
			w.urlVar = cfg.EndpointVariable
		}
		if cfg != nil && cfg.ModelVariable != "" {
			w.modelVar = cfg.ModelVariable
		}
		want = append(want, w)
	}
	// A service that depends on a provider of type model gets that provider's variables, as Compose gives them.
	for _, dep := range sortedKeys(s.DependsOn) {
		if byKey[dep] != nil && s.Models[dep] == nil && pl.isProviderModel(dep) {
			prefix := envPrefix(dep)
			want = append(want, wanted{key: dep, urlVar: prefix + "_URL", modelVar: prefix + "_MODEL"})
		}
	}
	if len(want) == 0 {
		return
	}
	if s.Environment == nil {
		s.Environment = types.MappingWithEquals{}
	}
	if s.DependsOn == nil {
		s.DependsOn = types.DependsOnConfig{}
	}
	var vars []string
	for _, w := range want {
		u := byKey[w.key]
		if u == nil {
			continue
		}
		url := fmt.Sprintf("http://%s:%d%s", u.service, modelPort, modelAPIPath)
		for k, v := range map[string]string{w.urlVar: url, w.modelVar: u.cfg.Model} {
			if _, set := s.Environment[k]; set {
				pl.record(n, "models", model.Approximated, fmt.Sprintf("%s is set by the service itself; Model Runner's value is not applied", k), "")
				continue
			}
			s.Environment[k] = &v
		}
		if _, ok := s.DependsOn[u.service]; !ok {
			s.DependsOn[u.service] = types.ServiceDependency{Condition: types.ServiceConditionHealthy, Required: true}
		}
		server := pl.svcs[u.service]
		for net := range pl.networksOfConfig(s) {
			server.Networks[net] = nil
		}
		pl.svcs[u.service] = server
		vars = append(vars, fmt.Sprintf("%s=%s, %s=%s", w.urlVar, url, w.modelVar, u.cfg.Model))
	}
	pl.svcs[n] = s
	if len(vars) > 0 {
		pl.record(n, "models", model.Approximated, fmt.Sprintf(
			"%s; the service waits until the server has loaded the model. Docker Model Runner's URL is http://model-runner.docker.internal/engines/v1/: the path differs, the API (OpenAI's) is the same",
			strings.Join(vars, "; ")), "")
	}
}

// envPrefix is the prefix of a model's variables: llm -> LLM, ai-runner -> AI_RUNNER.
func envPrefix(key string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(key))
}

// isProviderModel tells whether a Compose service was declared as a provider of type model.
func (pl *planner) isProviderModel(n string) bool {
	s, ok := pl.p.Services[n]
	return ok && s.Provider != nil && s.Provider.Type == "model"
}

// networksOfConfig are the Compose networks a service is on (default when it names none).
func (pl *planner) networksOfConfig(s types.ServiceConfig) map[string]bool {
	out := map[string]bool{}
	for net := range s.Networks {
		out[net] = true
	}
	if len(out) == 0 && s.NetworkMode == "" {
		out["default"] = true
	}
	return out
}

// modelSize is what a model reference says of its size: ai/llama3.2:3B-Q4_K_M has 3 billion parameters at 4-bit
// quantization.
type modelSize struct {
	params string  // "3B", "360M"
	count  float64 // parameters
	quant  string  // "Q4_K_M", "F16"
	bits   float64 // bits per parameter, block scales included
}

var (
	paramsRe = regexp.MustCompile(`(?i)(?:^|[-_:/.])(\d+(?:\.\d+)?)([bm])(?:$|[-_:/.])`)
	quantRe  = regexp.MustCompile(`(?i)(?:^|[-_:/.])((?:iq|q)(\d)(?:_[a-z0-9]+)*|f16|bf16|f32)(?:$|[-_:/.])`)
)

// knownModelParams are the sizes of models Docker publishes under ai/ without a size in their default tag.
var knownModelParams = map[string]float64{
	"smollm2": 360e6, "smollm3": 3e9, "llama3.2": 3e9, "llama3.1": 8e9, "llama3.3": 70e9, "gemma3": 4e9, "gemma3n": 4e9,
	"qwen2.5": 7e9, "qwen3": 8e9, "phi4": 14e9, "mistral": 7e9, "mistral-nemo": 12e9, "deepseek-r1-distill-llama": 8e9,
	"mxbai-embed-large": 335e6, "nomic-embed-text-v1.5": 137e6, "all-minilm": 23e6,
}

func modelSizeOf(ref string) modelSize {
	var s modelSize
	name, tag, _ := strings.Cut(strings.ToLower(ref[strings.LastIndex(ref, "/")+1:]), ":")
	for _, part := range []string{tag, name} {
		if m := paramsRe.FindStringSubmatch(part); m != nil && s.count == 0 {
			v, _ := strconv.ParseFloat(m[1], 64)
			if strings.EqualFold(m[2], "b") {
				s.count = v * 1e9
			} else {
				s.count = v * 1e6
			}
			s.params = m[1] + strings.ToUpper(m[2])
		}
		if m := quantRe.FindStringSubmatch(part); m != nil && s.quant == "" {
			s.quant = strings.ToUpper(m[1])
			switch q := strings.ToLower(m[1]); {
			case q == "f32":
				s.bits = 32
			case q == "f16" || q == "bf16":
				s.bits = 16
			default:
				b, _ := strconv.Atoi(m[2])
				s.bits = float64(b) + 0.5
			}
		}
	}
	if s.count > maxModelParams {
		s.count, s.params = 0, "" // not a size any model has: treat it as unknown
	}
	if s.count == 0 {
		if p, ok := knownModelParams[name]; ok {
			s.count = p
			s.params = formatParams(p)
		}
	}
	if s.quant == "" {
		s.quant, s.bits = "Q4_K_M (Model Runner's usual default)", 4.5
	}
	return s
}

// maxModelParams is more parameters than any model has; a reference that says more is not read as a size.
const maxModelParams = 5e12

func formatParams(p float64) string {
	if p >= 1e9 {
		return strconv.FormatFloat(p/1e9, 'f', -1, 64) + "B"
	}
	return strconv.FormatFloat(p/1e6, 'f', -1, 64) + "M"
}

func (s modelSize) known() bool { return s.count > 0 }

// weights is the size of the weights file in bytes.
func (s modelSize) weights() int64 { return int64(s.count * s.bits / 8) }

// memory is the server's memory request: the weights, a fifth more for the context's cache and buffers, and 512 MiB
// for the server; 4 GiB when the size is not known.
func (s modelSize) memory() int64 {
	if !s.known() {
		return 4 << 30
	}
	return roundUp(int64(float64(s.weights())*1.2)+512<<20, 256<<20)
}

// storage is the weights volume's size: the weights and a quarter to spare, at least 1 GiB; 20 GiB when not known.
func (s modelSize) storage() string {
	if !s.known() {
		return "20Gi"
	}
	gi := int64(math.Ceil(float64(s.weights()) * 1.25 / (1 << 30)))
	return strconv.FormatInt(max(gi, 1), 10) + "Gi"
}

func roundUp(v, unit int64) int64 { return (v + unit - 1) / unit * unit }

// ruleModelWeights puts in front of every model server the init container that copies the weights from the model's
// OCI artifact into its volume (agops model pull, from the helper image). The volume survives restarts, and the copy
// is skipped when the volume already holds the artifact's weights.
func (pl *planner) ruleModelWeights() {
	for _, u := range pl.models {
		w, c := pl.work[u.service], pl.primary[u.service]
		if w == nil || c == nil {
			continue
		}
		var mount *model.Mount
		for i := range c.Mounts {
			if c.Mounts[i].Path == modelDir {
				mount = &c.Mounts[i]
			}
		}
		if mount == nil {
			continue
		}
		// Loading weights takes from seconds to minutes, and /health answers 503 until it is done: the startup probe
		// gives it modelLoadAllowance before the liveness probe may restart the server.
		if c.Readiness != nil {
			startup := *c.Readiness
			startup.PeriodSeconds = 10
			startup.FailureThreshold = int32(modelLoadAllowance / (10 * time.Second))
			c.Startup = &startup
		}
		uid := int64(helperUID)
		w.Pod.FSGroup = &uid // the volume is the helper's to write and the server's to read
		w.Pod.InitContainers = append(w.Pod.InitContainers, model.Container{
			Name:     pl.initName(w, "pull-weights"),
			Image:    pl.opts.HelperImage,
			Args:     []string{"model", "pull", u.cfg.Model, "--dir", modelDir, "--file", ModelFile},
			Artifact: u.cfg.Model,
			Resources: model.Resources{
				Requests: map[string]string{"cpu": "100m", "memory": "64Mi"},
				Limits:   map[string]string{"memory": "256Mi"},
			},
			Security: helperSecurity(),
			Mounts:   []model.Mount{{Volume: mount.Volume, Path: modelDir, SubPath: mount.SubPath}},
		})
	}
}
