package main

import (
	"bytes"
	"debug/elf"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/recorder"
)

// deploy/ (issue 13 item 4): a container image and Kubernetes manifests.
// Neither docker nor kubectl runs here, so these tests read the manifests
// as Kubernetes would and check them against the lab file they deploy,
// run each container's command line through reclab's own flag parsing,
// and run the same topology as processes across network namespaces.

const deployDir = "../../deploy"

// k8sObject is what the tests read of a manifest.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas  int    `yaml:"replicas"`
		ClusterIP string `yaml:"clusterIP"`
		Selector  struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Ports    []k8sPort `yaml:"ports"` // a Service's
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
					RunAsUser    int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				InitContainers []k8sContainer `yaml:"initContainers"`
				Containers     []k8sContainer `yaml:"containers"`
				Volumes        []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sPort struct {
	Name          string `yaml:"name"`
	Port          int    `yaml:"port"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports        []k8sPort `yaml:"ports"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// deployment is one Deployment of deploy/k8s with what the tests derive.
type deployment struct {
	name  string
	c     k8sContainer
	addrs []netip.Addr // its lab-network addresses: the annotation's, then a farm's range
	nodes string       // --nodes
	farm  *farmRange
	obj   k8sObject
}

type farmRange struct {
	base  netip.Addr
	count int
}

// readDeploy reads deploy/k8s: the lab file the kustomization makes the
// ConfigMap of, and every object of its resources.
func readDeploy(t *testing.T) (lab.LabFile, string, []k8sObject) {
	t.Helper()
	dir := filepath.Join(deployDir, "k8s")
	var kust struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Name  string   `yaml:"name"`
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
	src, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(src, &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if len(kust.ConfigMapGenerator) != 1 || kust.ConfigMapGenerator[0].Name != "reclab-lab" || !slices.Equal(kust.ConfigMapGenerator[0].Files, []string{"lab.yaml"}) {
		t.Fatalf("kustomization.yaml: the ConfigMap reclab-lab from lab.yaml, got %+v", kust.ConfigMapGenerator)
	}
	labFile := filepath.Join(dir, "lab.yaml")
	labSrc, err := os.ReadFile(labFile)
	if err != nil {
		t.Fatal(err)
	}
	lf, err := lab.ParseLabFile(labFile, labSrc)
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Check(lf.Topology); err != nil {
		t.Fatal(err)
	}
	var objs []k8sObject
	for _, r := range kust.Resources {
		b, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			var o k8sObject
			if err := yaml.Unmarshal(doc, &o); err != nil {
				t.Fatalf("%s document %d: %v", r, i+1, err)
			}
			if o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s document %d: no kind or name", r, i+1)
			}
			objs = append(objs, o)
		}
	}
	return lf, labFile, objs
}

// deployments derives each Deployment's lab addresses and --nodes.
func deployments(t *testing.T, objs []k8sObject) []deployment {
	t.Helper()
	var out []deployment
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		ps := o.Spec.Template.Spec
		if len(ps.Containers) != 1 {
			t.Fatalf("%s: %d containers, want reclab's one", o.Metadata.Name, len(ps.Containers))
		}
		d := deployment{name: o.Metadata.Name, c: ps.Containers[0], obj: o}
		var nets []struct {
			Name, Interface string
			IPs             []string `yaml:"ips"`
		}
		if err := yaml.Unmarshal([]byte(o.Spec.Template.Metadata.Annotations["k8s.v1.cni.cncf.io/networks"]), &nets); err != nil || len(nets) != 1 || len(nets[0].IPs) != 1 {
			t.Fatalf("%s: the lab network annotation: %v %+v", d.name, err, nets)
		}
		pfx, err := netip.ParsePrefix(nets[0].IPs[0])
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		d.addrs = []netip.Addr{pfx.Addr()}
		for i, a := range d.c.Args {
			if a == "--nodes" && i+1 < len(d.c.Args) {
				d.nodes = d.c.Args[i+1]
			}
		}
		for _, ic := range ps.InitContainers {
			env := map[string]string{}
			for _, e := range ic.Env {
				env[e.Name] = e.Value
			}
			third, _ := strconv.Atoi(env["FARM_BASE_THIRD"])
			fourth, _ := strconv.Atoi(env["FARM_BASE_FOURTH"])
			count, _ := strconv.Atoi(env["FARM_COUNT"])
			d.farm = &farmRange{base: netip.AddrFrom4([4]byte{198, 18, byte(third), byte(fourth)}), count: count}
			// The init container's loop, as lab.NextPhoneAddr walks.
			ip := d.farm.base
			for range count - 1 {
				ip = lab.NextPhoneAddr(ip)
				d.addrs = append(d.addrs, ip)
			}
		}
		out = append(out, d)
	}
	return out
}

// The manifests agree with the lab file: one Deployment per node kind and
// farm, each with its --nodes, its lab addresses (a farm's whole range),
// the lab file mounted where its args say, a non-root reclab container;
// the PBX's and recorder's Services and container ports are the lab's;
// and each container's args pass reclab serve's own flag parsing.
func TestDeployManifests(t *testing.T) {
	lf, labFile, objs := readDeploy(t)
	topo := lf.Topology
	deps := deployments(t, objs)
	farms := map[string][]netip.Addr{}
	for _, p := range topo.Phones {
		farms[p.Farm] = append(farms[p.Farm], p.Addr)
	}
	want := map[string]bool{lab.RunPBX: true, lab.RunRecorder: true}
	for f := range farms {
		want[lab.RunPhones+":"+f] = true
	}
	labPorts := map[string]map[string]int{
		"pbx":      {"sip": int(topo.Split.PBXSIPPort), "csta": int(topo.Split.PBXCSTAPort), "csta-tls": int(topo.Split.CSTATLSPort), "ras": 1719},
		"recorder": {"sip": recorder.DefaultSIPPort, "http": recorder.DefaultHTTPPort, "https": recorder.DefaultHTTPSPort},
	}
	if topo.Split.PBXSIPPort == 0 {
		labPorts["pbx"]["sip"], labPorts["pbx"]["csta"] = lab.DefaultPBXSIPPort, lab.DefaultPBXCSTAPort
	}
	for _, d := range deps {
		if !want[d.nodes] {
			t.Errorf("%s: --nodes %q is no node kind or farm of the lab file, or a second Deployment of it", d.name, d.nodes)
			continue
		}
		delete(want, d.nodes)
		if d.obj.Spec.Replicas != 1 {
			t.Errorf("%s: %d replicas; a lab node's addresses are one pod's", d.name, d.obj.Spec.Replicas)
		}
		switch {
		case d.nodes == lab.RunPBX && d.addrs[0] != topo.PBXAddr, d.nodes == lab.RunRecorder && d.addrs[0] != topo.RecorderAddr:
			t.Errorf("%s: lab address %s, the lab file's is another", d.name, d.addrs[0])
		case strings.HasPrefix(d.nodes, "phones:"):
			if f := farms[strings.TrimPrefix(d.nodes, "phones:")]; !slices.Equal(d.addrs, f) {
				t.Errorf("%s: its init container adds %d addresses from %s; the farm has %d from %s", d.name, len(d.addrs), d.addrs[0], len(f), f[0])
			}
		}
		if ps := d.obj.Spec.Template.Spec; !ps.SecurityContext.RunAsNonRoot || ps.SecurityContext.RunAsUser == 0 {
			t.Errorf("%s: the pod does not run as non-root", d.name)
		}
		// The lab file where the args name it: the ConfigMap's mount.
		if len(d.c.Args) < 2 || d.c.Args[0] != "serve" {
			t.Fatalf("%s: args %q: want serve LAB.yaml …", d.name, d.c.Args)
		}
		mounted := false
		for _, m := range d.c.VolumeMounts {
			for _, v := range d.obj.Spec.Template.Spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == "reclab-lab" && filepath.Join(m.MountPath, "lab.yaml") == d.c.Args[1] {
					mounted = true
				}
			}
		}
		if !mounted {
			t.Errorf("%s: %s is not where the ConfigMap reclab-lab is mounted", d.name, d.c.Args[1])
		}
		// reclab's own flag parsing of the args, the lab file the real one.
		args := slices.Clone(d.c.Args)
		args[1] = labFile
		var o, e bytes.Buffer
		if code := run(append(args, "--help"), &o, &e); code != exitOK {
			t.Errorf("%s: reclab %s: exit %d: %s", d.name, strings.Join(d.c.Args, " "), code, e.String())
		}
		if _, err := lab.ParseNodes(d.nodes); err != nil {
			t.Errorf("%s: %v", d.name, err)
		}
		if ports, ok := labPorts[d.nodes]; ok {
			checkPorts(t, d.name+" container", d.c.Ports, ports, true)
			var svc *k8sObject
			for i := range objs {
				if objs[i].Kind == "Service" && objs[i].Metadata.Name == d.name {
					svc = &objs[i]
				}
			}
			if svc == nil {
				t.Errorf("%s: no Service", d.name)
				continue
			}
			checkPorts(t, d.name+" Service", svc.Spec.Ports, ports, false)
		}
	}
	for k := range want {
		t.Errorf("no Deployment runs %s", k)
	}
}

func checkPorts(t *testing.T, what string, got []k8sPort, want map[string]int, container bool) {
	t.Helper()
	seen := map[string]int{}
	for _, p := range got {
		n := p.Port
		if container {
			n = p.ContainerPort
		}
		seen[p.Name] = n
	}
	for name, port := range want {
		if seen[name] != port {
			t.Errorf("%s: port %s is %d, the lab's is %d", what, name, seen[name], port)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%s: ports %v, the lab's %v", what, seen, want)
	}
}

// The image's binary: CGO_ENABLED=0 builds reclab as a static executable
// (no interpreter, no shared library) that runs and answers serve --help,
// as deploy/Dockerfile builds it.
func TestStaticBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "reclab")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the static build has a program interpreter")
		}
	}
	f.Close()
	if len(libs) != 0 {
		t.Errorf("the static build needs shared libraries %v", libs)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "--help")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stderr.String(), "Usage: reclab serve LAB.yaml") {
		t.Fatalf("reclab serve --help: %v\n%s", err, stderr.String())
	}
	df, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0 go build", "./cmd/reclab", "USER 65532", "AS build", "COPY --from=build"} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("deploy/Dockerfile has no %q", want)
		}
	}
}

// The topology of deploy/k8s runs here as its four Deployments would: each
// container's args a `reclab serve` process in a network namespace of its
// own (a pod) with the addresses its manifest gives it (a farm's whole
// range), the pods joined by a router namespace (the lab network; routed,
// not bridged, so the kernel's neighbour table, shared by every namespace,
// holds four next hops instead of an entry per phone); all four come up,
// and a call of east's to west (which answers, --answer) is recorded, both
// parties, 0 lost. Every address is in 198.18.0.0/15.
func TestDeployTopologyAcrossNamespaces(t *testing.T) {
	_, labFile, objs := readDeploy(t)
	deps := deployments(t, objs)
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	ipBatch := func(ns string, lines []string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "batch")
		if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("ip", "-n", ns, "-b", f).CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s -b (%s …): %v: %s", ns, lines[0], err, out)
		}
	}
	rt := "rl13k-" + id + "-rt"
	var nss []string
	t.Cleanup(func() {
		for _, ns := range append(nss, rt) {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	if out, err := exec.Command("ip", "netns", "add", rt).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	if out, err := exec.Command("ip", "netns", "exec", rt, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0").CombinedOutput(); err != nil {
		t.Fatalf("router sysctl: %v: %s", err, out)
	}
	var routes []string
	procs := map[string]*served{}
	for i, d := range deps {
		ns := fmt.Sprintf("rl13k-%s-%d", id, i)
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v: %s", err, out)
		}
		nss = append(nss, ns)
		pod, port := fmt.Sprintf("rlk%s%d", id, i), fmt.Sprintf("rlk%s%dr", id, i)
		hop, me := fmt.Sprintf("198.19.255.%d", 4*i+1), fmt.Sprintf("198.19.255.%d", 4*i+2)
		ipBatch(rt, []string{
			fmt.Sprintf("link add %s type veth peer name %s netns %s", port, pod, ns),
			fmt.Sprintf("addr add %s/30 dev %s", hop, port),
			fmt.Sprintf("link set %s up", port),
		})
		lines := []string{"link set lo up", fmt.Sprintf("addr add %s/30 dev %s", me, pod), fmt.Sprintf("link set %s up", pod)}
		for _, a := range d.addrs {
			lines = append(lines, fmt.Sprintf("addr add %s/32 dev %s", a, pod))
			routes = append(routes, fmt.Sprintf("route add %s/32 via %s", a, me))
		}
		ipBatch(ns, append(lines, fmt.Sprintf("route add 198.18.0.0/15 via %s", hop)))
	}
	ipBatch(rt, routes)
	for i, d := range deps {
		// The container's args less what startServe gives: serve, the file
		// and --out.
		var args []string
		for j := 2; j < len(d.c.Args); j++ {
			if d.c.Args[j] == "--out" {
				j++
				continue
			}
			args = append(args, d.c.Args[j])
		}
		procs[d.nodes] = startServe(t, d.name, []string{"ip", "netns", "exec", nss[i]}, labFile, args...)
	}
	for _, d := range deps {
		procs[d.nodes].ready()
	}
	east, rec := procs["phones:east"], procs["recorder"]
	east.send("dial east-10001 20001")
	talkRecorded(t, rec, "10001", "20001", func() { east.send("hang-up east-10001") })
	checkLost(t, rec.out)
	for _, d := range deps {
		procs[d.nodes].stop()
	}
}
