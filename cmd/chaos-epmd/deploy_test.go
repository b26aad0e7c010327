package main_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestSystemdUnits runs systemd-analyze verify (Debian's systemd package)
// on chaos-epmd.service and on Debian's epmd.socket and epmd.service with
// the drop-in, in a root of their own holding the binary at its unit path,
// the host's packaged units and the deploy files; any warning fails.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		skipOrFail(t, "systemd-analyze not installed (make deps installs systemd)")
	}
	packaged := "/lib/systemd/system"
	for _, u := range []string{"epmd.service", "epmd.socket"} {
		if _, err := os.Stat(filepath.Join(packaged, u)); err != nil {
			skipOrFail(t, "Debian's "+u+" not installed (make deps installs erlang-base)")
		}
	}
	root := t.TempDir()
	// The packaged units, symbolic links as they are (absolute ones
	// resolve under the root).
	if out, err := exec.Command("cp", "-a", packaged, filepath.Join(root, "lib", "systemd")+"/").CombinedOutput(); err != nil {
		if err := os.MkdirAll(filepath.Join(root, "lib", "systemd"), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err = exec.Command("cp", "-a", packaged, filepath.Join(root, "lib", "systemd")+"/").CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v %s", packaged, err, out)
		}
	}
	install := func(src, dst string, mode os.FileMode) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst = filepath.Join(root, dst)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	install(chaosEpmd(t), "/usr/local/bin/chaos-epmd", 0o755)
	install("deploy/systemd/chaos-epmd.service", "/etc/systemd/system/chaos-epmd.service", 0o644)
	install("deploy/systemd/epmd.service.d/chaos-epmd.conf", "/etc/systemd/system/epmd.service.d/chaos-epmd.conf", 0o644)

	cmd := exec.Command(analyze, "verify", "--root="+root, "chaos-epmd.service", "epmd.socket", "epmd.service")
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}

	// The drop-in is read (a key systemd does not know is reported from
	// it), and both units say what the tests below rely on.
	bad := filepath.Join(root, "/etc/systemd/system/epmd.service.d/zz-test.conf")
	if err := os.WriteFile(bad, []byte("[Service]\nNoSuchKey=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command(analyze, "verify", "--root="+root, "epmd.service").CombinedOutput()
	if want := bad + ":2: Unknown key 'NoSuchKey' in section [Service], ignoring.\n"; string(out) != want {
		t.Fatalf("verify with a bad drop-in printed %q, want %q", out, want)
	}
	for _, c := range []struct {
		file string
		keys []string
	}{
		{"deploy/systemd/chaos-epmd.service", []string{"ExecStart=/usr/local/bin/chaos-epmd", "LimitNOFILE=1048576",
			"Conflicts=epmd.socket epmd.service", "EnvironmentFile=-/etc/default/chaos-epmd"}},
		{"deploy/systemd/epmd.service.d/chaos-epmd.conf", []string{"ExecStart=", "ExecStart=/usr/local/bin/chaos-epmd -systemd",
			"Type=notify", "LimitNOFILE=1048576", "EnvironmentFile=-/etc/default/chaos-epmd"}},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for _, k := range c.keys {
			if !slices.Contains(lines, k) {
				t.Errorf("%s: no line %q", c.file, k)
			}
		}
	}
}

// manifest decodes the Kubernetes manifest: each document into its API
// type, unknown fields rejected.
func manifest(t *testing.T, b []byte) (*corev1.Secret, *corev1.Service, *appsv1.StatefulSet, error) {
	t.Helper()
	var secret *corev1.Secret
	var svc *corev1.Service
	var sts *appsv1.StatefulSet
	for i, doc := range regexp.MustCompile(`(?m)^---$`).Split(string(b), -1) {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, nil, nil, fmt.Errorf("document %d: %w", i, err)
		}
		var obj any
		switch head.Kind {
		case "Secret":
			secret = &corev1.Secret{}
			obj = secret
		case "Service":
			svc = &corev1.Service{}
			obj = svc
		case "StatefulSet":
			sts = &appsv1.StatefulSet{}
			obj = sts
		default:
			return nil, nil, nil, fmt.Errorf("document %d: unexpected kind %q", i, head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, nil, nil, fmt.Errorf("document %d (%s): %w", i, head.Kind, err)
		}
	}
	if secret == nil || svc == nil || sts == nil {
		return nil, nil, nil, fmt.Errorf("want a Secret, a Service and a StatefulSet")
	}
	return secret, svc, sts, nil
}

// TestKubernetesSidecar decodes deploy/kubernetes/statefulset.yaml into
// the Kubernetes API types (unknown fields rejected) and checks the pod
// shape: chaos-epmd a native sidecar (first init container, restartPolicy
// Always) with the epmd and admin ports, a startup probe on epmd (the
// node starts after it passes), the token from the Secret, the image of
// make image; the node after it, not starting an epmd of its own.
func TestKubernetesSidecar(t *testing.T) {
	b, err := os.ReadFile("deploy/kubernetes/statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secret, svc, sts, err := manifest(t, b)
	if err != nil {
		t.Fatal(err)
	}
	// Strictness is real: a misspelt field is an error.
	_, _, _, err = manifest(t, bytes.Replace(b, []byte("restartPolicy: Always"), []byte("restartPolicyy: Always"), 1))
	if want := `document 2 (StatefulSet): error unmarshaling JSON: while decoding JSON: json: unknown field "restartPolicyy"`; err == nil || err.Error() != want {
		t.Fatalf("misspelt field: %v, want %s", err, want)
	}

	pod := sts.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || len(pod.Containers) != 1 {
		t.Fatalf("%d init containers, %d containers; want 1 and 1", len(pod.InitContainers), len(pod.Containers))
	}
	side, node := pod.InitContainers[0], pod.Containers[0]
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("sidecar name", side.Name, "chaos-epmd")
	check("sidecar restartPolicy", ptrString(side.RestartPolicy), "Always")
	check("sidecar image", side.Image, "chaos-epmd:v0.1.0")
	check("sidecar ports", portsOf(side.Ports), "epmd=4369/TCP chaos-admin=4380/TCP")
	if p := side.StartupProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "epmd" {
		t.Errorf("sidecar startup probe %+v, want tcpSocket on epmd", p)
	} else {
		check("startup probe period, failures", fmt.Sprint(p.PeriodSeconds, " ", p.FailureThreshold), "1 30")
	}
	if p := side.LivenessProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "epmd" {
		t.Errorf("sidecar liveness probe %+v, want tcpSocket on epmd", p)
	}
	if p := side.ReadinessProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.String() != "chaos-admin" {
		t.Errorf("sidecar readiness probe %+v, want tcpSocket on chaos-admin", p)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range side.Env {
		env[e.Name] = e
	}
	check("CHAOS_EPMD_ADMIN", env["CHAOS_EPMD_ADMIN"].Value, "0.0.0.0:4380")
	if ref := env["CHAOS_EPMD_ADMIN_TOKEN"].ValueFrom; ref == nil || ref.SecretKeyRef == nil {
		t.Errorf("CHAOS_EPMD_ADMIN_TOKEN not from a Secret: %+v", env["CHAOS_EPMD_ADMIN_TOKEN"])
	} else {
		check("token Secret", ref.SecretKeyRef.Name, secret.Name)
		if _, ok := secret.StringData[ref.SecretKeyRef.Key]; !ok {
			t.Errorf("Secret %s has no key %q", secret.Name, ref.SecretKeyRef.Key)
		}
	}
	// Every variable the sidecar sets is one chaos-epmd reads (-h lists them).
	_, _, help := runBin(t, "-h")
	for name := range env {
		if !strings.Contains(help, "\n    "+name+" ") {
			t.Errorf("sidecar sets %s, which chaos-epmd -h does not list", name)
		}
	}

	check("node ports", portsOf(node.Ports), "dist=9100/TCP")
	if !slices.Equal(argAfter(node.Command, "-start_epmd"), []string{"false"}) {
		t.Errorf("node command %q: want -start_epmd false (chaos-epmd is the epmd)", node.Command)
	}
	check("service selects the pods", svc.Spec.Selector["app"], sts.Spec.Template.Labels["app"])
	check("service is headless", svc.Spec.ClusterIP, "None")
	check("statefulset's service", sts.Spec.ServiceName, svc.Name)
	var svcPorts []string
	for _, p := range svc.Spec.Ports {
		svcPorts = append(svcPorts, fmt.Sprintf("%s=%d->%s", p.Name, p.Port, p.TargetPort.String()))
	}
	check("service ports", svcPorts, "[epmd=4369->epmd dist=9100->dist chaos-admin=4380->chaos-admin]")
}

func ptrString[T ~string](p *T) string {
	if p == nil {
		return "<nil>"
	}
	return string(*p)
}

func portsOf(ps []corev1.ContainerPort) string {
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%s=%d/%s", p.Name, p.ContainerPort, p.Protocol))
	}
	return strings.Join(s, " ")
}

// argAfter returns the argument after flag in a command line.
func argAfter(cmd []string, flag string) []string {
	i := slices.Index(cmd, flag)
	if i < 0 || i+1 >= len(cmd) {
		return nil
	}
	return cmd[i+1 : i+2]
}
