package node

import (
	"context"
	"strings"

	"github.com/harmoniakv/harmonia/internal/certs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// adminService is the service whose calls change or probe the cluster.
const adminService = "/harmonia.v1.Admin/"

// readOnlyAdmin are the admin calls any client may make: they only show.
// Every other admin call, including ones added later, needs the admin role.
var readOnlyAdmin = map[string]bool{
	adminService + "Status":   true,
	adminService + "Replicas": true,
	adminService + "Plan":     true,
}

// tableAdmin are the table calls that need the admin role: they change
// the catalog (a TTL deletes items in the background).
var tableAdmin = map[string]bool{
	"/harmonia.v1.Table/CreateTable":      true,
	"/harmonia.v1.Table/DeleteTable":      true,
	"/harmonia.v1.Table/UpdateTimeToLive": true,
}

// needsAdmin reports whether a call needs the admin role.
func needsAdmin(method string) bool {
	return (strings.HasPrefix(method, adminService) && !readOnlyAdmin[method]) || tableAdmin[method]
}

// authorize lets an admin call through only for a client certificate with
// the admin role (it runs with mutual TLS on, so every caller presented a
// certificate of the CA).
func authorize(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !needsAdmin(info.FullMethod) {
		return handler(ctx, req)
	}
	name, role := callerOf(ctx)
	if role != certs.RoleAdmin {
		call := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
		return nil, status.Errorf(codes.PermissionDenied, "%s needs a client certificate with the admin role (OU=%s); %q has the role %q",
			call, certs.RoleAdmin, name, role)
	}
	return handler(ctx, req)
}

// callerOf names the caller's verified certificate and its role.
func callerOf(ctx context.Context) (name, role string) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", ""
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return "", ""
	}
	c := ti.State.PeerCertificates[0]
	return c.Subject.CommonName, certs.Role(c)
}
