package plan

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/model"
)

// maxConfigMapBytes is the most a ConfigMap holds (etcd's object limit).
const maxConfigMapBytes = 1 << 20

// ruleStorage carries volumes over: named volumes become PersistentVolumeClaims, file bind mounts ConfigMaps,
// tmpfs and shm_size memory-backed emptyDirs; directory bind mounts need a decision, host system paths are kept
// but flagged, and the Docker socket is dropped.
func (pl *planner) ruleStorage() {
	for _, n := range pl.order {
		c := pl.primary[n]
		if c == nil {
			continue
		}
		s := pl.svcs[n]
		devMounts := pl.developmentMounts(n, s)
		for i, v := range s.Volumes {
			key := fmt.Sprintf("volumes[%d]", i)
			switch {
			case v.Type == types.VolumeTypeBind && slices.Contains(devMounts, v.Target):
				pl.record(n, key, model.Approximated,
					fmt.Sprintf("%s lies in the build context of the image: a development mount (live reload); not mounted, the image already holds these files", relTo(pl.p.WorkingDir, v.Source)),
					fmt.Sprintf(`to mount it anyway: x-agops: {bind: {%q: pvc}}`, v.Target))
				continue
			case v.Type == types.VolumeTypeVolume && v.Source == "" && under(v.Target, devMounts):
				pl.record(n, key, model.Approximated,
					fmt.Sprintf("anonymous volume at %s only shielded the image's files from a development mount that is not carried over; not mounted", v.Target), "")
				continue
			}
			switch v.Type {
			case types.VolumeTypeVolume:
				pl.namedVolume(n, key, v, c)
			case types.VolumeTypeBind:
				pl.bindMount(n, key, v, c)
			case types.VolumeTypeTmpfs:
				size := ""
				if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
					size = quantityBytes(int64(v.Tmpfs.Size))
				}
				pl.mountVolume(n, c, model.Volume{EmptyDir: &model.EmptyDir{Memory: true, SizeLimit: size}}, v.Target, v.ReadOnly, "")
				pl.record(n, key, model.Mapped, "tmpfs at "+v.Target+": a memory-backed emptyDir", "")
			default:
				pl.record(n, key, model.NeedsInput, fmt.Sprintf("volume type %q has no Kubernetes equivalent", v.Type),
					"replace it with a named volume or remove it")
			}
		}
		for _, t := range s.Tmpfs {
			target, _, _ := strings.Cut(t, ":")
			pl.mountVolume(n, c, model.Volume{EmptyDir: &model.EmptyDir{Memory: true}}, target, false, "")
			pl.record(n, "tmpfs", model.Mapped, "tmpfs at "+target+": a memory-backed emptyDir", "")
		}
		if s.ShmSize > 0 {
			pl.mountVolume(n, c, model.Volume{EmptyDir: &model.EmptyDir{Memory: true, SizeLimit: quantityBytes(int64(s.ShmSize))}}, "/dev/shm", false, "")
			pl.record(n, "shm_size", model.Mapped, "a memory-backed emptyDir of "+quantityBytes(int64(s.ShmSize))+" at /dev/shm", "")
		}
		if len(s.VolumesFrom) > 0 {
			pl.record(n, "volumes_from", model.NeedsInput, "volumes_from shares another container's volumes; Kubernetes has no equivalent",
				"declare the shared volumes on this service explicitly")
		}
	}
}

// mountVolume adds a pod volume and mounts it in the container. The volume is named after what it holds, made
// unique within the pod.
func (pl *planner) mountVolume(n string, c *model.Container, v model.Volume, target string, readOnly bool, subPath string) {
	w := pl.workloadOf(n)
	v.Name = podVolumeName(w, volumeLabel(v, target))
	w.Pod.Volumes = append(w.Pod.Volumes, v)
	c.Mounts = append(c.Mounts, model.Mount{Volume: v.Name, Path: target, ReadOnly: readOnly, SubPath: subPath})
}

func (pl *planner) namedVolume(n, key string, v types.ServiceVolumeConfig, c *model.Container) {
	if v.Source == "" {
		pl.mountVolume(n, c, model.Volume{EmptyDir: &model.EmptyDir{}}, v.Target, v.ReadOnly, "")
		pl.record(n, key, model.Mapped, "anonymous volume at "+v.Target+": an emptyDir that lives as long as the pod", "")
		return
	}
	claim, err := pl.claimFor(n, v.Source)
	if err != nil {
		pl.errs = append(pl.errs, err)
		return
	}
	sub := ""
	if v.Volume != nil {
		sub = v.Volume.Subpath
	}
	pl.mountVolume(n, c, model.Volume{Claim: claim.Name}, v.Target, v.ReadOnly, sub)
	reason := fmt.Sprintf("named volume %s: PersistentVolumeClaim %s (%s, %s); unlike Docker, a new claim is not seeded with the image's files at %s", v.Source, claim.Name, claim.Size, claim.AccessMode, v.Target)
	switch {
	case claim.External:
		reason = fmt.Sprintf("external volume %s: the existing PersistentVolumeClaim %s", v.Source, claim.Name)
	case pl.modelServers[n] != nil:
		reason = fmt.Sprintf("the model's weights: PersistentVolumeClaim %s (%s, %s) at %s, filled by the pull-weights init container", claim.Name, claim.Size, claim.AccessMode, v.Target)
	}
	pl.record(n, key, model.Mapped, reason, "")
}

// claimFor returns the PVC of a top-level volume, creating it on first use.
func (pl *planner) claimFor(n, volume string) (*model.Claim, error) {
	if c, ok := pl.claims[volume]; ok {
		if users := pl.claimUsers(volume); users > 1 && c.AccessMode == "ReadWriteOnce" {
			pl.record(n, "volumes", model.Approximated,
				fmt.Sprintf("volume %s is shared by %d services; a ReadWriteOnce claim is usable by pods on one node only", volume, users),
				"x-agops: {storage: {accessMode: ReadWriteMany, class: <an RWX class>}} on each service, or keep them on one node")
		}
		return c, nil
	}
	top, ok := pl.p.Volumes[volume]
	if !ok {
		return nil, fmt.Errorf("service %q: volumes: unknown volume %q (declare it under top-level volumes:)", n, volume)
	}
	h, err := compose.VolumeHint(volume, top)
	if err != nil {
		return nil, err
	}
	sh := pl.hints[n].Storage
	c := &model.Claim{Volume: volume, Size: pl.opts.StorageSize, StorageClass: pl.opts.StorageClass, AccessMode: "ReadWriteOnce"}
	for _, hint := range []*compose.StorageHint{&h, sh} {
		if hint == nil {
			continue
		}
		c.Size = firstNonEmpty(hint.Size, c.Size)
		c.StorageClass = firstNonEmpty(hint.Class, c.StorageClass)
		c.AccessMode = firstNonEmpty(hint.AccessMode, c.AccessMode)
	}
	if bool(top.External) {
		c.External = true
		c.Name = dns1035(firstNonEmpty(top.Name, volume))
	} else {
		c.Name = pl.unique("pvc", dns1035(volume))
	}
	if top.Driver != "" && top.Driver != "local" {
		pl.record("", "volumes."+volume, model.Approximated, "volume driver "+top.Driver+" has no meaning on Kubernetes; the claim uses a storage class",
			"x-agops: {class: <storage class>} on the volume")
	}
	if len(top.DriverOpts) > 0 {
		pl.record("", "volumes."+volume+".driver_opts", model.Dropped, "driver options are Docker's; use a storage class instead", "")
	}
	pl.claims[volume] = c
	return c, nil
}

func (pl *planner) claimUsers(volume string) int {
	count := 0
	for _, n := range pl.order {
		for _, v := range pl.svcs[n].Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source == volume {
				count++
				break
			}
		}
	}
	return count
}

// hostSystemPaths are node paths whose mount gives a container power over the host.
var hostSystemPaths = []string{"/", "/proc", "/sys", "/dev", "/etc", "/boot", "/lib/modules", "/var/lib/docker",
	"/var/lib/containerd", "/var/lib/kubelet", "/run", "/var/run", "/var/log", "/root", "/usr", "/bin", "/sbin", "/lib"}

func isHostSystemPath(p string) bool {
	p = path.Clean(p)
	for _, h := range hostSystemPaths {
		if p == h || (h != "/" && strings.HasPrefix(p, h+"/")) {
			return true
		}
	}
	return false
}

func (pl *planner) bindMount(n, key string, v types.ServiceVolumeConfig, c *model.Container) {
	src := v.Source
	if strings.HasSuffix(src, "/docker.sock") || strings.HasSuffix(src, "/podman.sock") {
		pl.security(n, key, model.Dropped,
			"the container engine socket "+src+" is not mounted: it gives root on the host, and Kubernetes nodes run containerd, not Docker",
			"use the Kubernetes API with a ServiceAccount instead")
		return
	}
	if isHostSystemPath(src) && !strings.HasPrefix(src, pl.p.WorkingDir) {
		pl.mountVolume(n, c, model.Volume{HostPath: &model.HostPath{Path: src}}, v.Target, v.ReadOnly, "")
		pl.security(n, key, model.NeedsInput,
			fmt.Sprintf("host path %s mounted at %s as a hostPath volume: the pod sees the node's files", src, v.Target),
			"confirm the service needs host access, or remove the mount")
		return
	}
	st, err := os.Stat(src)
	if err == nil && !st.IsDir() {
		pl.fileBind(n, key, v, c, st.Size())
		return
	}
	pl.dirBind(n, key, v, c)
}

// fileBind puts a bound file into the workload's files ConfigMap and mounts it with subPath.
func (pl *planner) fileBind(n, key string, v types.ServiceVolumeConfig, c *model.Container, size int64) {
	if size > maxConfigMapBytes {
		pl.fail("service %q: %s: bind-mounted file %s is %d bytes; a ConfigMap holds at most 1 MiB (use a volume instead)", n, key, v.Source, size)
		return
	}
	data, err := os.ReadFile(v.Source)
	if err != nil {
		pl.fail("service %q: %s: reading %s: %v", n, key, v.Source, err)
		return
	}
	cmName := pl.names[n] + "-files"
	cm := pl.configMaps[cmName]
	if cm == nil {
		cm = &model.ConfigMap{Name: pl.unique("configmap", cmName), Data: map[string]string{}}
		pl.configMaps[cmName] = cm
	}
	fileKey := configKey(cm, filepath.Base(v.Source))
	if err := putData(cm, fileKey, data); err != nil {
		pl.fail("service %q: %s: %v", n, key, err)
		return
	}
	pl.mountVolume(n, c, model.Volume{ConfigMap: &model.ProjectedItems{Name: cm.Name, Items: []model.KeyPath{{Key: fileKey, Path: fileKey}}}},
		v.Target, true, fileKey)
	pl.record(n, key, model.Approximated,
		fmt.Sprintf("file %s is copied into ConfigMap %s and mounted read-only at %s; edits on the host no longer reach the container", relTo(pl.p.WorkingDir, v.Source), cm.Name, v.Target), "")
}

// dirBind maps a directory bind mount as the x-agops bind hint says; without a hint a person must decide.
func (pl *planner) dirBind(n, key string, v types.ServiceVolumeConfig, c *model.Container) {
	rel := relTo(pl.p.WorkingDir, v.Source)
	switch pl.hints[n].Bind[v.Target] {
	case "pvc":
		volName := dns1035(pl.names[n] + "-" + strings.Trim(v.Target, "/"))
		claim := &model.Claim{Name: pl.unique("pvc", volName), Volume: rel, Size: pl.opts.StorageSize, StorageClass: pl.opts.StorageClass, AccessMode: "ReadWriteOnce"}
		pl.claims["bind:"+n+":"+v.Target] = claim
		pl.mountVolume(n, c, model.Volume{Claim: claim.Name}, v.Target, v.ReadOnly, "")
		pl.record(n, key, model.Mapped, fmt.Sprintf("directory %s becomes PersistentVolumeClaim %s (by hint); copy its contents in once", rel, claim.Name), "")
	case "emptydir":
		pl.mountVolume(n, c, model.Volume{EmptyDir: &model.EmptyDir{}}, v.Target, v.ReadOnly, "")
		pl.record(n, key, model.Approximated, fmt.Sprintf("directory %s becomes an empty scratch directory (by hint)", rel), "")
	case "hostpath":
		pl.mountVolume(n, c, model.Volume{HostPath: &model.HostPath{Path: v.Source, Type: "DirectoryOrCreate"}}, v.Target, v.ReadOnly, "")
		pl.security(n, key, model.Approximated, fmt.Sprintf("directory %s mounted from the node's disk (by hint): the pod is tied to nodes that have it", v.Source), "")
	case "configmap":
		if err := pl.dirConfigMap(n, v, c); err != nil {
			pl.fail("service %q: %s: x-agops.bind %s: configmap: %v", n, key, v.Target, err)
			return
		}
		pl.record(n, key, model.Approximated, fmt.Sprintf("the files of %s are copied into a ConfigMap mounted read-only at %s (by hint)", rel, v.Target), "")
	default:
		if v.ReadOnly && pl.dirConfigMap(n, v, c) == nil {
			pl.record(n, key, model.Approximated,
				fmt.Sprintf("read-only directory %s: its files are copied into a ConfigMap mounted at %s; edits on the host no longer reach the container", rel, v.Target), "")
			return
		}
		pl.mountVolume(n, c, model.Volume{EmptyDir: &model.EmptyDir{}}, v.Target, v.ReadOnly, "")
		hint := fmt.Sprintf(`x-agops: {bind: {%q: configmap}}  (configuration files; or pvc, emptydir, hostpath)`, v.Target)
		if _, err := os.Stat(v.Source); err != nil {
			hint = fmt.Sprintf(`x-agops: {bind: {%q: pvc}}  (data; or emptydir, hostpath, configmap once the folder exists)`, v.Target)
		}
		pl.record(n, key, model.NeedsInput,
			fmt.Sprintf("%s is bind-mounted at %s and is a directory or absent here (Docker would create a directory); the output mounts an empty directory there until you choose", rel, v.Target),
			hint)
	}
}

// dirConfigMap copies the files of a flat directory into a ConfigMap of their own and mounts it read-only at the
// target. Subdirectories, a missing folder or more than 1 MiB are errors.
func (pl *planner) dirConfigMap(n string, v types.ServiceVolumeConfig, c *model.Container) error {
	entries, err := os.ReadDir(v.Source)
	if err != nil {
		return fmt.Errorf("reading %s: %w", relTo(pl.p.WorkingDir, v.Source), unwrapPathError(err))
	}
	name := dns1035(pl.names[n] + "-" + path.Base(v.Target))
	cm := &model.ConfigMap{Name: name, Data: map[string]string{}}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s holds %s, which is not a regular file; a ConfigMap holds flat files only", relTo(pl.p.WorkingDir, v.Source), e.Name())
		}
		data, err := os.ReadFile(filepath.Join(v.Source, e.Name()))
		if err != nil {
			return err
		}
		if err := putData(cm, keyName(e.Name()), data); err != nil {
			return err
		}
	}
	cm.Name = pl.unique("configmap", name)
	pl.configMaps["dir:"+n+":"+v.Target] = cm
	pl.mountVolume(n, c, model.Volume{ConfigMap: &model.ProjectedItems{Name: cm.Name}}, v.Target, true, "")
	return nil
}

func relTo(base, p string) string {
	if rel, err := filepath.Rel(base, p); err == nil && !strings.HasPrefix(rel, "..") {
		return "./" + filepath.ToSlash(rel)
	}
	return p
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// quantityBytes renders a byte count the way Kubernetes quantities read best.
func quantityBytes(b int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if b >= u.size && b%u.size == 0 {
			return fmt.Sprintf("%d%s", b/u.size, u.suffix)
		}
	}
	return fmt.Sprintf("%d", b)
}

// volumeLabel suggests a pod volume name from the volume's source.
func volumeLabel(v model.Volume, target string) string {
	switch {
	case v.Claim != "":
		return v.Claim
	case v.ConfigMap != nil:
		return v.ConfigMap.Name
	case v.Secret != nil:
		return v.Secret.Name
	case len(v.Projected) > 0:
		return "secrets"
	case target == "/dev/shm":
		return "dshm"
	case v.EmptyDir != nil && v.EmptyDir.Memory:
		return "tmpfs" + target
	case v.HostPath != nil:
		return "host" + target
	}
	return "dir" + target
}

// podVolumeName makes a DNS-1123 label unique among the pod's volumes.
func podVolumeName(w *model.Workload, label string) string {
	base := dns1035(label)
	name := base
	for i := 2; hasVolume(w, name); i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

// developmentMounts returns the targets of directory bind mounts whose source lies inside the service's build
// context: the source code mounted over the image for live reload. The image built from that context already holds the files.
// A bind hint for the target keeps the mount.
func (pl *planner) developmentMounts(n string, s types.ServiceConfig) []string {
	if s.Build == nil || !filepath.IsAbs(s.Build.Context) {
		return nil
	}
	var out []string
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind || pl.hints[n].Bind[v.Target] != "" {
			continue
		}
		if st, err := os.Stat(v.Source); err == nil && st.Mode().IsRegular() {
			continue // a single file is carried in a ConfigMap, whether or not the image has it
		}
		if rel, err := filepath.Rel(s.Build.Context, v.Source); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			out = append(out, v.Target)
		}
	}
	return out
}

// under tells whether path is one of dirs or inside one of them.
func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}
