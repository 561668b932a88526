package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/template"

	"github.com/agops/agops/internal/fsutil"
)

// File is one generated file: its content and permissions.
type File = fsutil.File

// Tree maps slash-separated paths, relative to the output folder, to files.
type Tree map[string]File

func (t Tree) add(path string, data []byte, mode fs.FileMode) { t[path] = File{Data: data, Mode: mode} }

// addDoc adds a finished doc as a 0644 file, or returns its error.
func (t Tree) addDoc(path string, d *doc) error {
	data, err := d.bytes()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	t.add(path, data, 0o644)
	return nil
}

// Paths lists the tree's paths, sorted.
func (t Tree) Paths() []string {
	out := make([]string, 0, len(t))
	for p := range t {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Well-known paths in the output folder.
const (
	// MarkerFile records what was asked (never the token); its presence lets a later init replace the folder.
	MarkerFile = "agops-cluster.json"
	// TokenPath holds the k3s join token: mode 0600, the only place the token is written.
	TokenPath = "secrets/token"
)

// Generate returns every file of the output folder for s. It is pure: the same Spec and token give byte-identical
// files. The token (k3s only) goes into secrets/token and nowhere else; config files point at it.
func Generate(s Spec, token string) (Tree, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	t := Tree{}
	switch s.Distro {
	case K3s:
		if strings.TrimSpace(token) == "" || strings.ContainsAny(token, "\n\r") {
			return nil, errors.New("k3s needs a one-line, non-empty join token")
		}
		if err := s.k3sFiles(t, token); err != nil {
			return nil, err
		}
	case Talos:
		if err := s.talosFiles(t); err != nil {
			return nil, err
		}
	}
	manifests, err := s.manifestFiles()
	if err != nil {
		return nil, err
	}
	for name, data := range manifests {
		t.add("manifests/"+name, data, 0o644)
	}
	t.add("images.txt", []byte(strings.Join(s.Images(), "\n")+"\n"), 0o644)
	t.add(MarkerFile, s.marker(), 0o644)
	t.add("README.md", s.readme(), 0o644)
	return t, nil
}

func (s Spec) k3sFiles(t Tree, token string) error {
	t.add(TokenPath, []byte(token), 0o600)
	reg, err := s.k3sRegistries()
	if err != nil {
		return err
	}
	for i, n := range s.Nodes {
		cfg, err := s.k3sConfig(i)
		if err != nil {
			return err
		}
		t.add(n.Name+"/config.yaml", cfg, 0o644)
		if reg != nil {
			t.add(n.Name+"/registries.yaml", reg, 0o644)
		}
		for _, sc := range []*template.Template{installTmpl, preflightTmpl} {
			data, err := render(sc, s.scriptData(i))
			if err != nil {
				return err
			}
			t.add(n.Name+"/"+sc.Name(), data, 0o755)
		}
	}
	return nil
}

// markerJSON is the record of what init was asked.
type markerJSON struct {
	Generator      string            `json:"generator"`
	Distro         Distro            `json:"distro"`
	Nodes          []markerNode      `json:"nodes"`
	VIP            string            `json:"vip"`
	Subnet         string            `json:"subnet"`
	Airgap         bool              `json:"airgap"`
	RegistryMirror string            `json:"registryMirror,omitempty"`
	Accelerators   map[string]Kind   `json:"accelerators,omitempty"`
	Resources      map[string]string `json:"resources,omitempty"`
	Interface      string            `json:"interface,omitempty"`
	Digests        map[string]string `json:"digests,omitempty"`
}

type markerNode struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

func (s Spec) marker() []byte {
	m := markerJSON{
		Generator: "agops cluster init", Distro: s.Distro, VIP: s.VIP.String(), Subnet: s.subnet().String(),
		Airgap: s.Airgap, RegistryMirror: s.RegistryMirror, Interface: s.Interface, Digests: s.Digests,
	}
	for _, n := range s.Nodes {
		m.Nodes = append(m.Nodes, markerNode{Name: n.Name, Address: n.Addr.String()})
	}
	if len(s.Accelerators) > 0 {
		m.Accelerators, m.Resources = s.Accelerators, map[string]string{}
		for _, k := range s.Kinds() {
			m.Resources[string(k)] = s.Resource(k)
		}
	}
	data, _ := json.MarshalIndent(m, "", "  ") // maps and strings: cannot fail
	return append(data, '\n')
}

// first returns the first node's address (the one that initialises the cluster).
func (s Spec) first() netip.Addr { return s.Nodes[0].Addr }

// ParseMarker reads agops-cluster.json back into a validated Spec: unknown fields, another generator and every
// problem Parse finds are errors. Registries beyond the public ones are not recorded and come back empty.
func ParseMarker(data []byte) (Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m markerJSON
	if err := dec.Decode(&m); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", MarkerFile, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Spec{}, fmt.Errorf("%s: data after the JSON object", MarkerFile)
	}
	if m.Generator != "agops cluster init" {
		return Spec{}, fmt.Errorf("%s: generator %q: not written by agops cluster init", MarkerFile, m.Generator)
	}
	f := Flags{Distro: string(m.Distro), VIP: m.VIP, CIDR: m.Subnet, Single: len(m.Nodes) == 1, Airgap: m.Airgap,
		RegistryMirror: m.RegistryMirror, NPUResource: m.Resources[string(NPU)], Interface: m.Interface}
	for _, n := range m.Nodes {
		f.Nodes = append(f.Nodes, n.Name+"="+n.Address)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Accelerators)) {
		f.Accelerators = append(f.Accelerators, name+"="+string(m.Accelerators[name]))
	}
	s, err := Parse(f)
	if err != nil {
		return Spec{}, fmt.Errorf("%s: %w", MarkerFile, err)
	}
	if err := s.SetDigests(m.Digests); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", MarkerFile, err)
	}
	return s, nil
}

// Read reads the Spec of a cluster folder written by cluster init, and checks that every node's folder is there.
func Read(dir string) (Spec, error) {
	data, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if err != nil {
		return Spec{}, fmt.Errorf("cluster folder %s: %w (write one with agops cluster init)", dir, err)
	}
	s, err := ParseMarker(data)
	if err != nil {
		return Spec{}, fmt.Errorf("cluster folder %s: %w", dir, err)
	}
	for _, n := range s.Nodes {
		if fi, err := os.Stat(filepath.Join(dir, n.Name)); err != nil || !fi.IsDir() {
			return Spec{}, fmt.Errorf("cluster folder %s: node %s has no folder %s/: write the folder again with agops cluster init", dir, n.Name, n.Name)
		}
	}
	return s, nil
}

// SetDigests pins the cluster-side manifests' images: digests maps each reference of Images to sha256:<hex>. A
// reference the manifests do not use, or a malformed digest, is an error.
func (s *Spec) SetDigests(digests map[string]string) error {
	if len(digests) == 0 {
		return nil
	}
	images := s.Images()
	for ref, d := range digests {
		if !slices.Contains(images, ref) {
			return fmt.Errorf("digest for %s: the cluster's manifests do not use that image", ref)
		}
		hex, ok := strings.CutPrefix(d, "sha256:")
		if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
			return fmt.Errorf("digest for %s: %q is not sha256:<64 hex digits>", ref, d)
		}
	}
	s.Digests = maps.Clone(digests)
	return nil
}
