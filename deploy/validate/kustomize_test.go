package validate

import (
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestKustomizeBuilds runs kustomize itself (the library behind `kubectl apply -k`) on the
// manifests and decodes what it produces strictly, as the API server would receive it.
func TestKustomizeBuilds(t *testing.T) {
	built, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).
		Run(filesys.MakeFsOnDisk(), manifestDir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", manifestDir, err)
	}
	out, err := built.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitDocuments(out)
	if err != nil {
		t.Fatal(err)
	}
	var k *kustomization
	for _, d := range loadAll(t) {
		if kk, ok := d.obj.(*kustomization); ok {
			k = kk
		}
	}
	if k == nil {
		t.Fatal("no kustomization.yaml")
	}
	if len(docs) != len(k.Resources) {
		t.Errorf("kustomize built %d resources from %d files of one document each", len(docs), len(k.Resources))
	}
	for i, doc := range docs {
		kind, obj, err := decodeStrict(doc)
		if err != nil {
			t.Errorf("built resource #%d (%s): %v", i, kind, err)
			continue
		}
		d := document{file: "kustomize build", index: i, kind: kind, obj: obj}
		if ns, ok := obj.(interface{ GetNamespace() string }); ok && kind != "v1/Namespace" {
			if ns.GetNamespace() != k.Namespace {
				t.Errorf("%s: namespace %q, want %q from kustomization.yaml", d, ns.GetNamespace(), k.Namespace)
			}
		}
		for _, c := range containersOf(d) {
			for _, img := range k.Images {
				if imageName(c.Image) == img.Name && img.NewTag != "" && c.Image != img.Name+":"+img.NewTag {
					t.Errorf("%s: container %s image %s, want tag %s from kustomization.yaml", d, c.Name, c.Image, img.NewTag)
				}
			}
		}
	}
}
