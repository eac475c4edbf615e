// Package validate checks deploy/kubernetes without a cluster: every YAML document decodes
// strictly (an unknown or misspelt field fails) into the real Kubernetes API type of its kind,
// and the documents agree with each other (selectors, volumes, ports, ConfigMaps, Services, the
// kustomization's resource list).
//
// What the agent itself accepts (CKC_* variables, flags, config keys) is checked against the
// agent's own option schema by test/src/integration/deploy-manifests.test.ts, which also runs
// this test.
package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// manifestDir holds the manifests, relative to this package.
const manifestDir = "../kubernetes"

// podTemplateSuffix marks files that are snippets for other deployments (Flink's pod
// templates): decoded and checked like the rest, but not kustomize resources.
const podTemplateSuffix = "-pod-template.yaml"

// kustomization is the part of kustomize's Kustomization these manifests use. Decoding it
// strictly means a field kustomize knows but this struct does not fails here: add it to the
// struct deliberately rather than let a typo through.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
		IncludeTemplates bool              `json:"includeTemplates,omitempty"`
	} `json:"labels,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// kinds maps "apiVersion/kind" to a new value of the Go type that kind decodes into. A kind
// missing here fails the test: add it with its real API type.
var kinds = map[string]func() any{
	"v1/Namespace":                       func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                  func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"v1/Pod":                             func() any { return &corev1.Pod{} },
	"apps/v1/DaemonSet":                  func() any { return &appsv1.DaemonSet{} },
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
	"kustomize.config.k8s.io/v1beta1/Kustomization": func() any { return &kustomization{} },
}

// document is one decoded YAML document and where it came from.
type document struct {
	file  string
	index int
	kind  string
	obj   any
}

func (d document) String() string { return fmt.Sprintf("%s#%d (%s)", d.file, d.index, d.kind) }

// splitDocuments returns the non-empty documents of a multi-document YAML stream.
func splitDocuments(data []byte) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		// A document of comments only decodes to null: nothing to check.
		var probe any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, err
		}
		if probe != nil {
			docs = append(docs, doc)
		}
	}
}

// decodeStrict decodes one document into the type its apiVersion and kind name.
func decodeStrict(doc []byte) (string, any, error) {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return "", nil, err
	}
	if meta.APIVersion == "" || meta.Kind == "" {
		return "", nil, errors.New("apiVersion and kind are required")
	}
	kind := meta.APIVersion + "/" + meta.Kind
	newObj, ok := kinds[kind]
	if !ok {
		return kind, nil, fmt.Errorf("kind %s is not known to this test: add its API type to kinds", kind)
	}
	obj := newObj()
	// UnmarshalStrict: unknown fields and duplicate keys are errors.
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return kind, nil, err
	}
	return kind, obj, nil
}

func yamlFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if others, _ := filepath.Glob(filepath.Join(manifestDir, "*.yml")); len(others) > 0 {
		t.Fatalf("use the .yaml extension, so these are checked too: %v", others)
	}
	if len(files) == 0 {
		t.Fatalf("no manifests in %s", manifestDir)
	}
	sort.Strings(files)
	return files
}

// loadAll decodes every document of every manifest, failing the test on the first error of
// each document (all documents are tried, so one run lists every problem).
func loadAll(t *testing.T) []document {
	t.Helper()
	var all []document
	for _, file := range yamlFiles(t) {
		name := filepath.Base(file)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := splitDocuments(data)
		if err != nil {
			t.Errorf("%s: not valid YAML: %v", name, err)
			continue
		}
		if len(docs) == 0 {
			t.Errorf("%s: no document", name)
		}
		for i, doc := range docs {
			kind, obj, err := decodeStrict(doc)
			if err != nil {
				t.Errorf("%s#%d (%s): %v", name, i, kind, err)
				continue
			}
			all = append(all, document{file: name, index: i, kind: kind, obj: obj})
		}
	}
	return all
}

func TestEveryDocumentDecodesStrictly(t *testing.T) {
	docs := loadAll(t)
	for _, d := range docs {
		t.Logf("ok %s", d)
	}
}

// TestStrictDecodingCatchesUnknownFields proves the check above has teeth.
func TestStrictDecodingCatchesUnknownFields(t *testing.T) {
	bad := map[string]string{
		"misspelt container field": `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: i
          readinesProbe: {grpc: {port: 1}}
`,
		"field at the wrong level": `
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
labels: {a: b}
`,
		"duplicate key": `
apiVersion: v1
kind: ServiceAccount
metadata: {name: x}
metadata: {name: y}
`,
		"unknown kind": `
apiVersion: v1
kind: Secretz
metadata: {name: x}
`,
		"unknown kustomization field": `
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resource: [a.yaml]
`,
	}
	for name, doc := range bad {
		_, _, err := decodeStrict([]byte(doc))
		if err == nil {
			t.Errorf("%s: decoded without error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	docs := loadAll(t)
	var k *kustomization
	for _, d := range docs {
		if kk, ok := d.obj.(*kustomization); ok {
			if d.file != "kustomization.yaml" {
				t.Errorf("%s: a Kustomization belongs in kustomization.yaml", d)
			}
			k = kk
		}
	}
	if k == nil {
		t.Fatal("no kustomization.yaml")
	}
	listed := map[string]bool{}
	for _, r := range k.Resources {
		if listed[r] {
			t.Errorf("kustomization.yaml lists %s twice", r)
		}
		listed[r] = true
		if _, err := os.Stat(filepath.Join(manifestDir, r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	for _, file := range yamlFiles(t) {
		name := filepath.Base(file)
		isSnippet := strings.HasSuffix(name, podTemplateSuffix)
		switch {
		case name == "kustomization.yaml":
		case isSnippet && listed[name]:
			t.Errorf("%s is a pod template for another deployment; kustomization.yaml must not apply it", name)
		case !isSnippet && !listed[name]:
			t.Errorf("%s is not listed in kustomization.yaml resources (kubectl apply -k would skip it)", name)
		}
	}
	images := map[string]bool{}
	for _, img := range k.Images {
		images[img.Name] = true
	}
	// Every agent image must be one the kustomization can retarget, or overlays miss it.
	for _, d := range docs {
		for _, c := range containersOf(d) {
			if strings.Contains(c.Image, "ckc-agent") && !images[imageName(c.Image)] {
				t.Errorf("%s: container %s image %s is not in kustomization.yaml images", d, c.Name, c.Image)
			}
		}
	}
}

func imageName(image string) string {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i]
	}
	return image
}

// podTemplate returns the pod labels and spec of workloads, and of a Pod.
func podTemplate(d document) (map[string]string, *corev1.PodSpec) {
	switch o := d.obj.(type) {
	case *appsv1.DaemonSet:
		return o.Spec.Template.Labels, &o.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return o.Spec.Template.Labels, &o.Spec.Template.Spec
	case *corev1.Pod:
		return o.Labels, &o.Spec
	}
	return nil, nil
}

func containersOf(d document) []corev1.Container {
	_, spec := podTemplate(d)
	if spec == nil {
		return nil
	}
	return append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
}

func selects(selector *metav1.LabelSelector, labels map[string]string) bool {
	if selector == nil || len(selector.MatchExpressions) > 0 {
		return false
	}
	return selectsLabels(selector.MatchLabels, labels)
}

func selectsLabels(want, labels map[string]string) bool {
	if len(want) == 0 {
		return false
	}
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestDocumentsAgree(t *testing.T) {
	docs := loadAll(t)
	configMaps := map[string]*corev1.ConfigMap{}
	services := map[string]*corev1.Service{}
	serviceAccounts := map[string]bool{}
	var templates []map[string]string
	for _, d := range docs {
		switch o := d.obj.(type) {
		case *corev1.ConfigMap:
			configMaps[o.Name] = o
		case *corev1.Service:
			services[o.Name] = o
		case *corev1.ServiceAccount:
			serviceAccounts[o.Name] = true
		}
		if labels, _ := podTemplate(d); labels != nil {
			templates = append(templates, labels)
		}
		// kustomization.yaml sets the namespace: a namespace in a file would fight an overlay's.
		if o, ok := d.obj.(metav1.Object); ok && o.GetNamespace() != "" {
			t.Errorf("%s: metadata.namespace is set; leave it to kustomization.yaml", d)
		}
	}

	for _, d := range docs {
		switch o := d.obj.(type) {
		case *appsv1.DaemonSet:
			if !selects(o.Spec.Selector, o.Spec.Template.Labels) {
				t.Errorf("%s: spec.selector does not select the pod template's labels", d)
			}
		case *appsv1.StatefulSet:
			if !selects(o.Spec.Selector, o.Spec.Template.Labels) {
				t.Errorf("%s: spec.selector does not select the pod template's labels", d)
			}
			if services[o.Spec.ServiceName] == nil {
				t.Errorf("%s: serviceName %q is not a Service in the manifests", d, o.Spec.ServiceName)
			}
		case *corev1.Service:
			matched := false
			for _, labels := range templates {
				matched = matched || selectsLabels(o.Spec.Selector, labels)
			}
			if !matched {
				t.Errorf("%s: the selector matches no pod template in the manifests", d)
			}
		case *networkingv1.NetworkPolicy:
			matched := false
			for _, labels := range templates {
				matched = matched || selects(&o.Spec.PodSelector, labels)
			}
			if !matched {
				t.Errorf("%s: podSelector matches no pod template in the manifests", d)
			}
		}

		_, spec := podTemplate(d)
		if spec == nil {
			continue
		}
		_, isPod := d.obj.(*corev1.Pod)
		if name := spec.ServiceAccountName; name != "" && !serviceAccounts[name] {
			t.Errorf("%s: serviceAccountName %q is not a ServiceAccount in the manifests", d, name)
		}
		volumes := map[string]corev1.Volume{}
		if ss, ok := d.obj.(*appsv1.StatefulSet); ok {
			for _, claim := range ss.Spec.VolumeClaimTemplates {
				volumes[claim.Name] = corev1.Volume{Name: claim.Name}
			}
		}
		for _, v := range spec.Volumes {
			volumes[v.Name] = v
			if v.ConfigMap != nil {
				cm := configMaps[v.ConfigMap.Name]
				if cm == nil {
					t.Errorf("%s: volume %s: ConfigMap %q is not in the manifests", d, v.Name, v.ConfigMap.Name)
				}
				for _, item := range v.ConfigMap.Items {
					if cm != nil {
						if _, ok := cm.Data[item.Key]; !ok {
							t.Errorf("%s: volume %s: ConfigMap %s has no key %q", d, v.Name, cm.Name, item.Key)
						}
					}
				}
			}
		}
		for _, c := range containersOf(d) {
			if c.Image == "" && !isPod {
				t.Errorf("%s: container %s has no image", d, c.Name)
			}
			for _, m := range c.VolumeMounts {
				if _, ok := volumes[m.Name]; !ok {
					t.Errorf("%s: container %s mounts %q, which is not a volume of the pod", d, c.Name, m.Name)
				}
			}
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			for kind, probe := range map[string]*corev1.Probe{
				"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe,
			} {
				if probe == nil {
					continue
				}
				if probe.GRPC != nil && !hasPort(ports, intstr.FromInt32(probe.GRPC.Port)) {
					t.Errorf("%s: container %s %s: gRPC port %d is not a container port", d, c.Name, kind, probe.GRPC.Port)
				}
				if probe.HTTPGet != nil && !hasPort(ports, probe.HTTPGet.Port) {
					t.Errorf("%s: container %s %s: port %s is not a container port", d, c.Name, kind, probe.HTTPGet.Port.String())
				}
				if probe.TCPSocket != nil && !hasPort(ports, probe.TCPSocket.Port) {
					t.Errorf("%s: container %s %s: port %s is not a container port", d, c.Name, kind, probe.TCPSocket.Port.String())
				}
			}
			if !isPod {
				checkHardened(t, d, c)
			}
		}
	}
}

func hasPort(ports map[string]int32, port intstr.IntOrString) bool {
	if port.Type == intstr.String {
		_, ok := ports[port.StrVal]
		return ok
	}
	for _, p := range ports {
		if p == port.IntVal {
			return true
		}
	}
	return false
}

// checkHardened: every container of the deployment drops all capabilities, cannot gain
// privileges and has a read-only root file system; long-running ones have requests and a
// memory limit and run as non-root.
func checkHardened(t *testing.T, d document, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: container %s has no securityContext", d, c.Name)
		return
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: container %s: set allowPrivilegeEscalation: false", d, c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: container %s: set readOnlyRootFilesystem: true", d, c.Name)
	}
	if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("%s: container %s: drop ALL capabilities", d, c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: container %s is privileged", d, c.Name)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: container %s needs a memory request and limit", d, c.Name)
	}
	if isInit(d, c) {
		return
	}
	if len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: container %s adds capabilities %v", d, c.Name, sc.Capabilities.Add)
	}
	_, spec := podTemplate(d)
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil && spec.SecurityContext != nil {
		nonRoot = spec.SecurityContext.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("%s: container %s: set runAsNonRoot: true", d, c.Name)
	}
}

func isInit(d document, c corev1.Container) bool {
	_, spec := podTemplate(d)
	for _, ic := range spec.InitContainers {
		if ic.Name == c.Name {
			return true
		}
	}
	return false
}
