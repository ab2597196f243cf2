package node

import "testing"

func TestNeedsAdmin(t *testing.T) {
	for _, tc := range []struct {
		rule   string
		method string
		admin  bool
	}{
		{"creating a table changes the catalog", "/harmonia.v1.Table/CreateTable", true},
		{"deleting a table changes the catalog", "/harmonia.v1.Table/DeleteTable", true},
		{"a table's TTL deletes items in the background", "/harmonia.v1.Table/UpdateTimeToLive", true},
		{"describing a table only shows", "/harmonia.v1.Table/DescribeTable", false},
		{"an item write is a client's request", "/harmonia.v1.Table/PutItem", false},
		{"an item update is a client's request", "/harmonia.v1.Table/UpdateItem", false},
		{"an item delete is a client's request", "/harmonia.v1.Table/DeleteItem", false},
		{"an item read is a client's request", "/harmonia.v1.Table/GetItem", false},
		{"a query is a client's request", "/harmonia.v1.Table/Query", false},
		{"a key write is a client's request", "/harmonia.v1.KV/Put", false},
		{"status only shows", "/harmonia.v1.Admin/Status", false},
		{"leave changes the cluster", "/harmonia.v1.Admin/Leave", true},
	} {
		if got := needsAdmin(tc.method); got != tc.admin {
			t.Errorf("%s: needsAdmin(%s) = %v", tc.rule, tc.method, got)
		}
	}
}
