package plan

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

const secretsDir = "/run/secrets"

// ruleFiles mounts Compose secrets (as Secrets, at /run/secrets/<name> or their target) and configs (as
// ConfigMaps at their target). Secret values are read into memory only.
func (pl *planner) ruleFiles() {
	for _, n := range pl.order {
		c := pl.primary[n]
		if c == nil {
			continue
		}
		s := pl.svcs[n]
		var projected []model.ProjectedSource
		for i, ref := range s.Secrets {
			key := fmt.Sprintf("secrets[%d]", i)
			sec := pl.secretFor(n, key, ref.Source)
			if sec == nil {
				continue
			}
			target := ref.Target
			if target == "" {
				target = ref.Source
			}
			if !path.IsAbs(target) {
				target = path.Join(secretsDir, target)
			}
			item := model.KeyPath{Key: sec.Keys[0].Key, Path: path.Base(target), Mode: fileMode(ref.Mode)}
			if path.Dir(target) == secretsDir {
				projected = append(projected, model.ProjectedSource{Secret: &model.ProjectedItems{Name: sec.Name, Items: []model.KeyPath{item}}})
			} else {
				pl.mountVolume(n, c, model.Volume{Secret: &model.ProjectedItems{Name: sec.Name, Items: []model.KeyPath{item}}}, target, true, item.Path)
			}
			pl.record(n, key, model.Mapped, fmt.Sprintf("secret %s mounted read-only at %s from Secret %s", ref.Source, target, sec.Name), "")
			if ref.UID != "" || ref.GID != "" {
				pl.record(n, key+".uid", model.Approximated, "file owner is not settable per file on Kubernetes; the pod's fsGroup governs group access", "")
			}
		}
		if len(projected) > 0 {
			pl.mountVolume(n, c, model.Volume{Projected: projected}, secretsDir, true, "")
		}
		for i, ref := range s.Configs {
			pl.configMount(n, fmt.Sprintf("configs[%d]", i), ref, c)
		}
	}
}

func fileMode(m *types.FileMode) *int32 {
	if m == nil {
		return nil
	}
	v := int32(*m & 0o777)
	return &v
}

// secretFor returns the Secret of a top-level Compose secret, creating it on first use.
func (pl *planner) secretFor(n, key, name string) *model.Secret {
	id := "compose:" + name
	if sec, ok := pl.secrets[id]; ok {
		return sec
	}
	top, ok := pl.p.Secrets[name]
	if !ok {
		pl.fail("service %q: %s: unknown secret %q (declare it under top-level secrets:)", n, key, name)
		return nil
	}
	dataKey := keyName(name)
	sec := &model.Secret{}
	sk := model.SecretKey{Key: dataKey}
	ns := namespaceName(pl.p.Name)
	switch {
	case bool(top.External):
		sec.Name = dns1035(firstNonEmpty(top.Name, name))
		sk.Source = "external secret"
		pl.record("", "secrets."+name, model.Mapped, fmt.Sprintf("external secret: Secret %s must exist in namespace %s with key %s", sec.Name, ns, dataKey), "")
	case top.File != "":
		sec.Name = pl.unique("secret", dns1035(name))
		sk.Source, sk.File = "file "+relTo(pl.p.WorkingDir, top.File), top.File
		create := fmt.Sprintf("kubectl create secret generic %s -n %s --from-file=%s=%s  (in the project folder)", sec.Name, ns, dataKey, relTo(pl.p.WorkingDir, top.File))
		if data, err := os.ReadFile(top.File); err == nil {
			sk.Value, sk.Known = data, true
			pl.record("", "secrets."+name, model.Mapped, fmt.Sprintf("Secret %s from %s (the value is not written to the output)", sec.Name, relTo(pl.p.WorkingDir, top.File)), create)
		} else {
			pl.record("", "secrets."+name, model.NeedsInput, fmt.Sprintf("secret file %s does not exist yet; create Secret %s when it does", relTo(pl.p.WorkingDir, top.File), sec.Name), create)
		}
	case top.Environment != "":
		sec.Name = pl.unique("secret", dns1035(name))
		sk.Source = "environment variable " + top.Environment
		if top.Content != "" {
			sk.Value, sk.Known = []byte(top.Content), true
			pl.record("", "secrets."+name, model.Mapped, fmt.Sprintf("Secret %s from $%s (the value is not written to the output)", sec.Name, top.Environment), secretHint())
		} else {
			pl.record("", "secrets."+name, model.NeedsInput, fmt.Sprintf("$%s is not set; create Secret %s yourself", top.Environment, sec.Name),
				fmt.Sprintf("kubectl create secret generic %s -n %s --from-literal=%s=\"$%s\"", sec.Name, ns, dataKey, top.Environment))
		}
	default:
		sec.Name = pl.unique("secret", dns1035(name))
		sk.Source = "inline content"
		sk.Value, sk.Known = []byte(top.Content), true
		pl.record("", "secrets."+name, model.Mapped, fmt.Sprintf("Secret %s from inline content (the value is not written to the output)", sec.Name), secretHint())
	}
	sec.Keys = []model.SecretKey{sk}
	sec.External = bool(top.External)
	if sk.Known {
		pl.indexCredential(string(sk.Value), sec.Name, sk.Key)
	}
	pl.secrets[id] = sec
	return sec
}

var badKeyChars = regexp.MustCompile(`[^-._a-zA-Z0-9]`)

// keyName makes a valid ConfigMap or Secret key.
func keyName(s string) string {
	k := badKeyChars.ReplaceAllString(s, "_")
	if k == "" || k == "." || k == ".." {
		k = "value"
	}
	return k
}

// configKey returns a key for a file that is not yet used in the ConfigMap.
func configKey(cm *model.ConfigMap, base string) string {
	k := keyName(base)
	candidate := k
	for i := 2; ; i++ {
		_, inData := cm.Data[candidate]
		_, inBinary := cm.Binary[candidate]
		if !inData && !inBinary {
			return candidate
		}
		candidate = k + "-" + strconv.Itoa(i)
	}
}

// putData stores file contents as text or, when not UTF-8, as binary data, keeping the ConfigMap under 1 MiB.
func putData(cm *model.ConfigMap, key string, data []byte) error {
	total := len(data)
	for _, v := range cm.Data {
		total += len(v)
	}
	for _, v := range cm.Binary {
		total += len(v)
	}
	if total > maxConfigMapBytes {
		return fmt.Errorf("ConfigMap %s would hold %d bytes; at most 1 MiB fits", cm.Name, total)
	}
	if utf8.Valid(data) {
		cm.Data[key] = string(data)
		return nil
	}
	if cm.Binary == nil {
		cm.Binary = map[string][]byte{}
	}
	cm.Binary[key] = data
	return nil
}

// configMount mounts a Compose config at its target.
func (pl *planner) configMount(n, key string, ref types.ServiceConfigObjConfig, c *model.Container) {
	top, ok := pl.p.Configs[ref.Source]
	if !ok {
		pl.fail("service %q: %s: unknown config %q (declare it under top-level configs:)", n, key, ref.Source)
		return
	}
	target := ref.Target
	if target == "" {
		target = "/" + ref.Source
	}
	cm := pl.configMapFor(n, key, ref.Source, top)
	if cm == nil {
		return
	}
	var k string
	for k = range cm.Data {
	}
	for k = range cm.Binary {
	}
	pl.mountVolume(n, c, model.Volume{ConfigMap: &model.ProjectedItems{Name: cm.Name, Items: []model.KeyPath{{Key: k, Path: k, Mode: fileMode(ref.Mode)}}}}, target, true, k)
	pl.record(n, key, model.Mapped, fmt.Sprintf("config %s mounted read-only at %s from ConfigMap %s", ref.Source, target, cm.Name), "")
}

// configMapFor returns the one-key ConfigMap of a top-level config, creating it on first use.
func (pl *planner) configMapFor(n, key, name string, top types.ConfigObjConfig) *model.ConfigMap {
	id := "config:" + name
	if cm, ok := pl.configMaps[id]; ok {
		return cm
	}
	if bool(top.External) {
		cm := &model.ConfigMap{Name: dns1035(firstNonEmpty(top.Name, name)), Data: map[string]string{keyName(name): ""}, External: true}
		pl.record("", "configs."+name, model.Mapped, fmt.Sprintf("external config: ConfigMap %s must exist with key %s", cm.Name, keyName(name)), "")
		pl.configMaps[id] = cm
		return cm
	}
	cm := &model.ConfigMap{Name: pl.unique("configmap", dns1035("config-"+name)), Data: map[string]string{}}
	var data []byte
	dataKey := keyName(name)
	switch {
	case top.File != "":
		b, err := os.ReadFile(top.File)
		if err != nil {
			pl.fail("service %q: %s: config %q: reading %s: %v", n, key, name, relTo(pl.p.WorkingDir, top.File), unwrapPathError(err))
			return nil
		}
		data, dataKey = b, keyName(path.Base(strings.ReplaceAll(top.File, "\\", "/")))
	case top.Environment != "":
		data = []byte(top.Content)
	default:
		data = []byte(top.Content)
	}
	if err := putData(cm, dataKey, data); err != nil {
		pl.fail("service %q: %s: config %q: %v", n, key, name, err)
		return nil
	}
	pl.configMaps[id] = cm
	pl.record("", "configs."+name, model.Mapped, "ConfigMap "+cm.Name, "")
	return cm
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
