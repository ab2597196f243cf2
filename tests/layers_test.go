package tests

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Imports only go down: cluster/ (the pure algorithms) imports none of
// client/, persistence/, actors/, node/ or cmd/, nor the libraries of the
// network, the actors and the disk (gRPC, protoactor, pebble); client/
// imports no persistence/, actors/, node/ or cmd/; persistence/ imports no
// actors/, node/ or cmd/; actors/ imports no node/ or cmd/; node/ imports
// no cmd/.
func TestLayersImportDownwardOnly(t *testing.T) {
	const module = "github.com/harmoniakv/harmonia/"
	above := map[string][]string{
		"cluster":     {"client", "persistence", "actors", "node", "cmd"},
		"client":      {"persistence", "actors", "node", "cmd"},
		"persistence": {"actors", "node", "cmd"},
		"actors":      {"node", "cmd"},
		"node":        {"cmd"},
	}
	// Libraries a layer may not use at all, by import path prefix.
	libraries := map[string][]string{
		"cluster": {"google.golang.org/grpc", "github.com/asynkron/protoactor-go", "github.com/cockroachdb/pebble"},
	}
	checked := 0
	for layer, forbidden := range above {
		err := filepath.WalkDir(filepath.Join("..", layer), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			checked++
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				for _, up := range forbidden {
					if strings.HasPrefix(p, module+up+"/") || p == module+up {
						t.Errorf("%s imports %s: %s/ is above %s/", path, p, up, layer)
					}
				}
				for _, lib := range libraries[layer] {
					if strings.HasPrefix(p, lib) {
						t.Errorf("%s imports %s: %s/ holds pure algorithms, without %s", path, p, layer, lib)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked == 0 {
		t.Fatal("no Go file checked")
	}
}

// A program that embeds membership alone (gossip.NewMember) links no
// storage: actors/gossip and the actor plumbing it runs on depend, even
// indirectly, on neither persistence/ nor the rest of actors/ nor pebble.
func TestGossipLibraryLinksNoStorage(t *testing.T) {
	const module = "github.com/harmoniakv/harmonia/"
	for _, pkg := range []string{"./actors/gossip", "./actors/actorkit"} {
		cmd := exec.Command("go", "list", "-deps", pkg)
		cmd.Dir = ".."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) == 0 {
			t.Fatalf("go list -deps %s listed nothing", pkg)
		}
		for _, dep := range deps {
			if strings.HasPrefix(dep, "github.com/cockroachdb/pebble") || dep == module+"persistence" || dep == module+"actors" {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
