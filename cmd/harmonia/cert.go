package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/harmoniakv/harmonia/cluster/membership"
	"github.com/harmoniakv/harmonia/internal/certs"
	"github.com/spf13/cobra"
)

// certCmd makes a development CA and the certificates of nodes and
// clients (internal/certs). Keys are written 0600 and never overwritten.
func certCmd() *cobra.Command {
	var dir string
	var days int
	c := &cobra.Command{Use: "cert", Short: "make a development CA and node and client certificates for mutual TLS"}
	c.PersistentFlags().StringVar(&dir, "dir", "certs", "directory of the CA (ca.pem, ca-key.pem) and of the certificates made")
	c.PersistentFlags().IntVar(&days, "days", 365, "days the certificate is valid")
	validity := func() (time.Duration, error) {
		if days < 1 {
			return 0, usageErr("--days %d: must be at least 1", days)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	c.AddCommand(&cobra.Command{
		Use:   "ca",
		Short: "make the cluster CA in --dir",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := validity()
			if err != nil {
				return err
			}
			ca, err := certs.NewCA("HarmoniaKV cluster CA", v)
			if err != nil {
				return err
			}
			return writePair(dir, "ca", ca)
		},
	})
	var hosts string
	node := &cobra.Command{
		Use:   "node NAME",
		Short: "make a node certificate signed by the CA in --dir, for the addresses in --hosts",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if hosts == "" {
				return usageErr("cert node: --hosts must list the addresses and names peers and clients dial")
			}
			return issueCert(dir, certs.RoleNode, args[0], strings.Split(hosts, ","), validity)
		},
	}
	node.Flags().StringVar(&hosts, "hosts", "", "comma-separated IP addresses and DNS names of the node (subject alternative names)")
	c.AddCommand(node)
	var admin bool
	client := &cobra.Command{
		Use:   "client NAME",
		Short: "make a client certificate signed by the CA in --dir (--admin: with the admin role)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			role := certs.RoleClient
			if admin {
				role = certs.RoleAdmin
			}
			return issueCert(dir, role, args[0], nil, validity)
		},
	}
	client.Flags().BoolVar(&admin, "admin", false, "give it the admin role: leave, remove, repair and the other admin calls")
	c.AddCommand(client)
	return c
}

func issueCert(dir, role, name string, hosts []string, validity func() (time.Duration, error)) error {
	v, err := validity()
	if err != nil {
		return err
	}
	if err := membership.CheckID(name); err != nil {
		return usageErr("name: %v", err)
	}
	caCert, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return usageErr("no CA in %s (make one with: harmonia cert ca --dir %s)", dir, dir)
	}
	caKey, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		return usageErr("CA key: %v", err)
	}
	issued, err := certs.Issue(certs.Issued{CertPEM: caCert, KeyPEM: caKey}, role, name, hosts, v)
	if err != nil {
		return usageErr("%v", err)
	}
	return writePair(dir, name, issued)
}

// writePair writes NAME.pem and NAME-key.pem, refusing to replace either.
func writePair(dir, name string, c certs.Issued) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return usageErr("%s exists; not replacing it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.WriteFile(keyPath, c.KeyPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(certPath, c.CertPEM, 0o644); err != nil {
		return err
	}
	fmt.Printf("%s\n%s\n", certPath, keyPath)
	return nil
}
