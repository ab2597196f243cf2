// Package statuspage serves a node's status page: a page at / that shows
// the cluster as this node sees it (members, the ring, hints, transfers,
// anti-entropy) and refreshes itself from /api/status, the node's status
// as protojson. Its files are embedded in the binary: nothing is fetched
// from outside the machine.
package statuspage

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"time"

	"github.com/harmoniakv/harmonia/messages/kvpb"
	"google.golang.org/protobuf/encoding/protojson"
)

//go:embed static
var static embed.FS

// Register adds the page (/ and /ui/) and its data (/api/status) to mux;
// status reads the node's state.
func Register(mux *http.ServeMux, status func(context.Context) (*kvpb.StatusResponse, error)) {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", http.FileServerFS(files)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, "index.html")
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		st, err := status(ctx)
		if err != nil {
			http.Error(w, "status: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(st)
		if err != nil {
			http.Error(w, "status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	})
}
