package node

import (
	"strings"
	"testing"
)

func TestAdvertised(t *testing.T) {
	for _, tc := range []struct {
		listen, adv, client, advClient string
		cluster, clientAddr, err       string
	}{
		{listen: "127.0.0.1:7001", client: "127.0.0.1:8001", cluster: "127.0.0.1:7001", clientAddr: "127.0.0.1:8001"},
		{listen: "0.0.0.0:7000", adv: "10.0.0.5:7000", client: "0.0.0.0:8000", cluster: "10.0.0.5:7000", clientAddr: "10.0.0.5:8000"},
		{listen: "[::]:7000", adv: "node-1.harmonia:7000", client: ":8000", cluster: "node-1.harmonia:7000", clientAddr: "node-1.harmonia:8000"},
		{listen: "0.0.0.0:7000", adv: "10.0.0.5:7000", client: "0.0.0.0:8000", advClient: "kv.example.com:443", cluster: "10.0.0.5:7000", clientAddr: "kv.example.com:443"},
		{listen: "0.0.0.0:7000", adv: "10.0.0.5:17000", client: "10.0.0.5:8000", cluster: "10.0.0.5:17000", clientAddr: "10.0.0.5:8000"},
		{listen: "0.0.0.0:7000", client: "127.0.0.1:8000", err: "--listen 0.0.0.0:7000 binds every interface"},
		{listen: ":7000", client: "127.0.0.1:8000", err: "binds every interface"},
		{listen: "0.0.0.0:7000", adv: "0.0.0.0:7000", client: "127.0.0.1:8000", err: "--advertise \"0.0.0.0:7000\": advertise an address peers can dial"},
		{listen: "0.0.0.0:7000", adv: "10.0.0.5", client: "127.0.0.1:8000", err: "--advertise \"10.0.0.5\""},
		{listen: "0.0.0.0:7000", adv: "10.0.0.5:0", client: "127.0.0.1:8000", err: "port must be 1 to 65535"},
		{listen: "127.0.0.1:7000", client: "127.0.0.1:8000", advClient: "[::]:8000", err: "--advertise-client"},
		{listen: "127.0.0.1:7000", client: "nonsense", err: "--client \"nonsense\""},
	} {
		cluster, client, err := Advertised(tc.listen, tc.adv, tc.client, tc.advClient)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want one containing %q", tc, err, tc.err)
			}
			continue
		}
		if err != nil || cluster != tc.cluster || client != tc.clientAddr {
			t.Errorf("%+v: got %q %q %v, want %q %q", tc, cluster, client, err, tc.cluster, tc.clientAddr)
		}
	}
}
