package validate

// The agents' NetworkPolicy, read as the rules it is meant to enforce (docs/security.md, "Between
// agents"): the agent's gRPC port admits the other agents and nobody else; agents are admitted on
// that port only; the one rule open to any source (metrics and the kubelet's probes) leaves the
// gRPC port out.

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestAgentPolicyAdmitsAgentsOnlyOnThePeerPort(t *testing.T) {
	docs := loadAll(t)
	var agentLabels map[string]string
	ports := map[string]int32{}
	for _, d := range docs {
		if ds, ok := d.obj.(*appsv1.DaemonSet); ok && ds.Name == "ckc-agent" {
			agentLabels = ds.Spec.Template.Labels
			for _, c := range ds.Spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					ports[p.Name] = p.ContainerPort
				}
			}
		}
	}
	grpcPort, ok := ports["grpc"]
	if agentLabels == nil || !ok {
		t.Fatal("no ckc-agent DaemonSet with a container port named grpc")
	}
	portOf := func(p networkingv1.NetworkPolicyPort) int32 {
		if p.Port == nil {
			return -1 // every port
		}
		if p.Port.Type == intstr.String {
			return ports[p.Port.StrVal]
		}
		return p.Port.IntVal
	}
	var policy *networkingv1.NetworkPolicy
	for _, d := range docs {
		if np, ok := d.obj.(*networkingv1.NetworkPolicy); ok && selects(&np.Spec.PodSelector, agentLabels) {
			if policy != nil {
				t.Fatalf("%s: a second NetworkPolicy selects the agents; its rules would add up", d)
			}
			policy = np
		}
	}
	if policy == nil {
		t.Fatal("no NetworkPolicy selects the agent pods")
	}
	ingress := false
	for _, pt := range policy.Spec.PolicyTypes {
		ingress = ingress || pt == networkingv1.PolicyTypeIngress
	}
	if !ingress {
		t.Error("the agents' NetworkPolicy does not restrict ingress")
	}
	peerRule := false
	for i, rule := range policy.Spec.Ingress {
		if len(rule.Ports) == 0 {
			t.Errorf("ingress rule %d admits every port", i)
		}
		admitsGrpc := false
		for _, p := range rule.Ports {
			port := portOf(p)
			admitsGrpc = admitsGrpc || port == grpcPort || port == -1 || (p.EndPort != nil && port <= grpcPort && grpcPort <= *p.EndPort)
		}
		onlyAgents := len(rule.From) > 0
		for _, peer := range rule.From {
			onlyAgents = onlyAgents && peer.IPBlock == nil && peer.NamespaceSelector == nil &&
				selects(peer.PodSelector, agentLabels)
		}
		if admitsGrpc && !onlyAgents {
			t.Errorf("ingress rule %d admits the gRPC port (%d) from other sources than the agent pods", i, grpcPort)
		}
		if onlyAgents {
			for _, p := range rule.Ports {
				if portOf(p) != grpcPort || p.EndPort != nil {
					t.Errorf("ingress rule %d admits agents on another port than gRPC (%d)", i, grpcPort)
				}
			}
			peerRule = peerRule || admitsGrpc
		}
	}
	if !peerRule {
		t.Errorf("no ingress rule admits the other agents on the gRPC port (%d): peer reads would fail", grpcPort)
	}
}
