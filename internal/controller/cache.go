package controller

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions keeps in the manager's cache only what the controllers read (B8): no
// managed fields on any object, and of a Node only its identity, labels, deletion state,
// addresses and the runtime facts the rulebook checks (R50). A Node's images, conditions,
// capacity and annotations, most of its size, are dropped before they are stored.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Node{}: {Transform: trimNode},
		},
	}
}

var _ toolscache.TransformFunc = trimNode

// trimNode keeps the fields of a Node that the controllers read.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		TypeMeta: n.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion, Generation: n.Generation,
			CreationTimestamp: n.CreationTimestamp, DeletionTimestamp: n.DeletionTimestamp, Labels: n.Labels,
		},
		Status: corev1.NodeStatus{
			Addresses: n.Status.Addresses,
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem: n.Status.NodeInfo.OperatingSystem, ContainerRuntimeVersion: n.Status.NodeInfo.ContainerRuntimeVersion,
			},
		},
	}, nil
}
