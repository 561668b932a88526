package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
)

// The cluster stands in for k3s's local-path provisioner: a default
// StorageClass local-path, and a binder that gives every Pending claim of
// that class a hostPath PersistentVolume of the requested size under the
// cluster's temporary folder, bound in advance through claimRef. Unlike
// local-path, the volume is pinned to no node (nothing mounts it: there is no
// kubelet), so a pod may move between nodes with its volume. When a claim is
// deleted, the binder deletes its Released volume.
const (
	// StorageClassName is the cluster's default StorageClass.
	StorageClassName = "local-path"
	provisionerName  = "rancher.io/local-path"
	provisionedBy    = "pv.kubernetes.io/provisioned-by"
)

func storageClass(name string) *storagev1.StorageClass {
	immediate := storagev1.VolumeBindingImmediate
	reclaim := corev1.PersistentVolumeReclaimDelete
	meta := metav1.ObjectMeta{Name: name}
	if name == StorageClassName {
		meta.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	}
	return &storagev1.StorageClass{
		ObjectMeta:        meta,
		Provisioner:       provisionerName,
		VolumeBindingMode: &immediate,
		ReclaimPolicy:     &reclaim,
	}
}

// startBinder creates the StorageClass and starts the binder, which runs
// until ctx ends.
func (c *Cluster) startBinder(ctx context.Context) error {
	for _, name := range append([]string{StorageClassName}, c.classes...) {
		_, err := c.client.StorageV1().StorageClasses().Create(ctx, storageClass(name), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating storage class %s: %w", name, err)
		}
	}
	// Two informers of their own rather than client-go's informer factory, which links every API group's informers
	// and listers into agops.
	core := c.client.CoreV1().RESTClient()
	claims := cache.NewSharedIndexInformer(cache.NewListWatchFromClient(core, "persistentvolumeclaims", metav1.NamespaceAll,
		fields.Everything()), &corev1.PersistentVolumeClaim{}, 0, cache.Indexers{})
	volumes := cache.NewSharedIndexInformer(cache.NewListWatchFromClient(core, "persistentvolumes", metav1.NamespaceAll,
		fields.Everything()), &corev1.PersistentVolume{}, 0, cache.Indexers{})
	onClaim := func(obj any) {
		if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
			c.provision(ctx, pvc)
		}
	}
	onVolume := func(obj any) {
		if pv, ok := obj.(*corev1.PersistentVolume); ok {
			c.reclaim(ctx, pv)
		}
	}
	if _, err := claims.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onClaim, UpdateFunc: func(_, obj any) { onClaim(obj) },
	}); err != nil {
		return err
	}
	if _, err := volumes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onVolume, UpdateFunc: func(_, obj any) { onVolume(obj) },
	}); err != nil {
		return err
	}
	c.wg.Go(func() { claims.RunWithContext(ctx) })
	c.wg.Go(func() { volumes.RunWithContext(ctx) })
	return nil
}

// provision creates the volume of a Pending claim of the local-path class.
func (c *Cluster) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) {
	if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil ||
		pvc.Spec.StorageClassName == nil || !c.servesClass(*pvc.Spec.StorageClassName) {
		return
	}
	pv := volumeFor(pvc, filepath.Join(c.paths.volumes, pvc.Namespace+"_"+pvc.Name))
	// World-writable, as local-path makes its folders: pods that run as any user can write their volume.
	if err := os.MkdirAll(pv.Spec.HostPath.Path, 0o777); err != nil || os.Chmod(pv.Spec.HostPath.Path, 0o777) != nil {
		c.log.Error("creating volume folder", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
		return
	}
	_, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
		c.log.Error("creating volume", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
		return
	}
	c.log.Debug("provisioned volume", "claim", pvc.Namespace+"/"+pvc.Name, "volume", pv.Name)
}

// volumeFor is the hostPath volume at path, bound in advance to pvc.
func volumeFor(pvc *corev1.PersistentVolumeClaim, path string) *corev1.PersistentVolume {
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "pvc-" + string(pvc.UID),
			Annotations: map[string]string{provisionedBy: provisionerName},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   modes,
			VolumeMode:                    pvc.Spec.VolumeMode,
			StorageClassName:              *pvc.Spec.StorageClassName,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			ClaimRef: &corev1.ObjectReference{
				APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &dirOrCreate},
			},
		},
	}
}

// reclaim deletes a Released volume that the binder made, and its folder.
func (c *Cluster) reclaim(ctx context.Context, pv *corev1.PersistentVolume) {
	if pv.Status.Phase != corev1.VolumeReleased || pv.Annotations[provisionedBy] != provisionerName ||
		pv.Spec.HostPath == nil || pv.DeletionTimestamp != nil {
		return
	}
	err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		c.log.Error("deleting released volume", "volume", pv.Name, "err", err)
		return
	}
	if rel, err := filepath.Rel(c.paths.volumes, pv.Spec.HostPath.Path); err == nil && filepath.IsLocal(rel) {
		_ = os.RemoveAll(pv.Spec.HostPath.Path)
	}
}

func (c *Cluster) servesClass(name string) bool {
	return name == StorageClassName || slices.Contains(c.classes, name)
}
