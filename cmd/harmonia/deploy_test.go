package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/harmoniakv/harmonia/node"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// No container runtime runs here, so the container files are checked by
// reading them: every flag they pass exists, nodes bound to every
// interface advertise a name their peers resolve, and joins point at such
// a name.

const repoRoot = "../.."

// checkServerArgs fails for every --flag of args that `harmonia server`
// lacks, and returns the flags' values by name.
func checkServerArgs(t *testing.T, where string, args []string) map[string]string {
	t.Helper()
	fs := serverCmd().Flags()
	vals := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			t.Errorf("%s: %q is not a flag", where, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("%s: harmonia server has no flag --%s", where, name)
			continue
		}
		if !hasVal && f.Value.Type() != "bool" {
			if i+1 >= len(args) {
				t.Errorf("%s: --%s without a value", where, name)
				continue
			}
			i++
			val = args[i]
		}
		vals[name] = val
	}
	return vals
}

// checkNode checks one node's settings: it names itself, keeps its data
// where the image's volume is, and advertises a host its peers know.
func checkNode(t *testing.T, where string, v map[string]string, hostOK func(host string) bool) {
	t.Helper()
	for _, need := range []string{"node-id", "data-dir", "listen", "advertise", "client", "http", "cluster-secret-file"} {
		if v[need] == "" {
			t.Errorf("%s: no --%s", where, need)
		}
	}
	if v["data-dir"] != "/data" {
		t.Errorf("%s: --data-dir %q, not the image's /data volume", where, v["data-dir"])
	}
	checkSecurity(t, where, v)
	for _, flag := range []string{"advertise", "join"} {
		if v[flag] == "" {
			continue
		}
		host, _, ok := strings.Cut(v[flag], ":")
		if !ok || !hostOK(host) {
			t.Errorf("%s: --%s %q: not a peer's name", where, flag, v[flag])
		}
	}
}

// checkSecurity fails unless a node of these settings would start: bound
// to every interface, it needs TLS files or --insecure, and not both (see
// node.Security). A file must say which it uses.
func checkSecurity(t *testing.T, where string, v map[string]string) {
	t.Helper()
	insecure := false
	if val, ok := v["insecure"]; ok {
		b, err := strconv.ParseBool(cmp.Or(val, "true"))
		if err != nil {
			t.Errorf("%s: --insecure=%q: %v", where, val, err)
		}
		insecure = b
	}
	tls := v["tls-cert"] != "" || v["tls-key"] != "" || v["tls-ca"] != ""
	noDNS := func(context.Context, string) ([]netip.Addr, error) { return nil, errors.New("no lookups here") }
	mode, _, err := node.Security(context.Background(),
		[]node.Binding{{Flag: "--listen", Addr: v["listen"]}, {Flag: "--client", Addr: v["client"]}}, tls, insecure, noDNS)
	if err != nil {
		t.Errorf("%s: the node would not start: %v", where, err)
	} else if mode == node.SecurityLoopback {
		t.Errorf("%s: binds loopback only (%s, %s): no peer could reach it", where, v["listen"], v["client"])
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDockerfile(t *testing.T) {
	var entry, cmd, health []string
	var user string
	volume := false
	sc := bufio.NewScanner(bytes.NewReader(bytes.ReplaceAll(readFile(t, "Dockerfile"), []byte("\\\n"), nil)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		instr, rest, _ := strings.Cut(line, " ")
		array := func(s string) []string {
			var out []string
			if err := json.Unmarshal([]byte(s), &out); err != nil {
				t.Fatalf("Dockerfile: %s: not a JSON array: %v", line, err)
			}
			return out
		}
		switch instr {
		case "ENTRYPOINT":
			entry = array(rest)
		case "CMD":
			cmd = array(rest)
		case "HEALTHCHECK":
			_, after, ok := strings.Cut(rest, "CMD ")
			if !ok {
				t.Fatalf("Dockerfile: HEALTHCHECK without CMD: %s", line)
			}
			health = array(after)
		case "USER":
			user = rest
		case "VOLUME":
			volume = strings.Contains(rest, "/data")
		}
	}
	if len(entry) != 2 || entry[1] != "server" {
		t.Fatalf("ENTRYPOINT %q, want the binary and server", entry)
	}
	if strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") || user == "" {
		t.Errorf("USER %q: the image must not run as root", user)
	}
	if !volume {
		t.Error("no VOLUME /data")
	}
	v := checkServerArgs(t, "Dockerfile CMD", cmd)
	if v["data-dir"] != "/data" || v["http"] == "" {
		t.Errorf("Dockerfile CMD %q: want --data-dir /data and --http", cmd)
	}
	checkSecurity(t, "Dockerfile CMD", v)
	if len(health) < 2 || health[1] != "healthcheck" {
		t.Fatalf("HEALTHCHECK %q, want harmonia healthcheck", health)
	}
	hc := healthcheckCmd()
	hc.SetArgs(health[2:])
	hc.RunE = func(*cobra.Command, []string) error { return nil } // parse only
	if err := hc.Execute(); err != nil {
		t.Errorf("HEALTHCHECK %q: %v", health, err)
	}
	if got, _ := hc.Flags().GetString("http"); got != "127.0.0.1:"+strings.Split(v["http"], ":")[1] {
		t.Errorf("HEALTHCHECK asks %s, but the node serves HTTP on %s", got, v["http"])
	}
}

func TestDockerCompose(t *testing.T) {
	var doc struct {
		Services map[string]struct {
			Command  []string `yaml:"command"`
			Hostname string   `yaml:"hostname"`
			Secrets  []string `yaml:"secrets"`
			Volumes  []string `yaml:"volumes"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	if err := yaml.Unmarshal(readFile(t, "docker-compose.yml"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Services) != 3 {
		t.Fatalf("%d services, want 3", len(doc.Services))
	}
	isService := func(h string) bool { _, ok := doc.Services[h]; return ok }
	ids := map[string]bool{}
	joins := 0
	for name, s := range doc.Services {
		v := checkServerArgs(t, "docker-compose "+name, s.Command)
		checkNode(t, "docker-compose "+name, v, isService)
		if !strings.HasPrefix(v["advertise"], name+":") {
			t.Errorf("%s advertises %q, not its own service name", name, v["advertise"])
		}
		if ids[v["node-id"]] {
			t.Errorf("node id %s twice", v["node-id"])
		}
		ids[v["node-id"]] = true
		if v["join"] != "" {
			joins++
		}
		for _, sec := range s.Secrets {
			if _, ok := doc.Secrets[sec]; !ok || v["cluster-secret-file"] != "/run/secrets/"+sec {
				t.Errorf("%s: secret %s undeclared or not the --cluster-secret-file (%s)", name, sec, v["cluster-secret-file"])
			}
		}
		if len(s.Volumes) != 1 || !strings.HasSuffix(s.Volumes[0], ":/data") {
			t.Errorf("%s: volumes %q, want one on /data", name, s.Volumes)
		}
	}
	if joins != 2 {
		t.Errorf("%d services join, want 2 (all but the seed)", joins)
	}
}

func TestKubernetesManifest(t *testing.T) {
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, "deploy/kubernetes/harmonia.yaml")))
	type container struct {
		Args []string `yaml:"args"`
		Env  []struct {
			Name string `yaml:"name"`
		} `yaml:"env"`
	}
	var headless, stateful bool
	var serviceName string
	var args []string
	envs := map[string]bool{}
	for {
		var obj struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec struct {
				ClusterIP                string `yaml:"clusterIP"`
				PublishNotReadyAddresses bool   `yaml:"publishNotReadyAddresses"`
				ServiceName              string `yaml:"serviceName"`
				Template                 struct {
					Spec struct {
						Containers []container `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&obj); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatal(err)
		}
		switch obj.Kind {
		case "Service":
			if obj.Spec.ClusterIP == "None" {
				headless = obj.Spec.PublishNotReadyAddresses && obj.Metadata.Name == "harmonia"
			}
		case "StatefulSet":
			stateful = true
			serviceName = obj.Spec.ServiceName
			if len(obj.Spec.Template.Spec.Containers) != 1 {
				t.Fatalf("%d containers", len(obj.Spec.Template.Spec.Containers))
			}
			c := obj.Spec.Template.Spec.Containers[0]
			args = c.Args
			for _, e := range c.Env {
				envs[e.Name] = true
			}
		}
	}
	if !headless || !stateful || serviceName != "harmonia" {
		t.Fatalf("headless service %v, statefulset %v with serviceName %q", headless, stateful, serviceName)
	}
	// Kubernetes expands $(VAR) in args from the container's env.
	for _, m := range regexp.MustCompile(`\$\(([A-Z_]+)\)`).FindAllStringSubmatch(strings.Join(args, " "), -1) {
		if !envs[m[1]] {
			t.Errorf("args use $(%s), which the container's env lacks", m[1])
		}
	}
	v := checkServerArgs(t, "StatefulSet", args)
	podName := regexp.MustCompile(`^(\$\(POD_NAME\)|harmonia-0)\.harmonia\.\$\(POD_NAMESPACE\)\.svc\.cluster\.local$`)
	checkNode(t, "StatefulSet", v, podName.MatchString)
}
