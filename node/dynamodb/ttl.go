package dynamodb

import (
	"context"

	"github.com/harmoniakv/harmonia/cluster/tableapi"
)

// A table's TimeToLiveStatus as DescribeTimeToLive shows it: a change
// takes effect with the catalog's, so a table is never ENABLING or
// DISABLING.
const (
	ttlEnabled  = "ENABLED"
	ttlDisabled = "DISABLED"
)

// timeToLiveSpecification is DynamoDB's TimeToLiveSpecification; the
// pointers tell a missing member from a zero one.
type timeToLiveSpecification struct {
	AttributeName *string
	Enabled       *bool
}

type updateTimeToLiveInput struct {
	TableName               string
	TimeToLiveSpecification *timeToLiveSpecification
}

type timeToLiveSpecificationOutput struct {
	AttributeName string
	Enabled       bool
}

func (h *handler) updateTimeToLive(ctx context.Context, body []byte) (any, error) {
	var in updateTimeToLiveInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	spec := in.TimeToLiveSpecification
	if err := firstError(
		required("tableName", in.TableName == ""),
		required("timeToLiveSpecification", spec == nil),
	); err != nil {
		return nil, err
	}
	if err := firstError(
		required("timeToLiveSpecification.attributeName", spec.AttributeName == nil),
		required("timeToLiveSpecification.enabled", spec.Enabled == nil),
	); err != nil {
		return nil, err
	}
	ttl, err := h.svc.UpdateTimeToLive(ctx, tableapi.UpdateTimeToLive{Table: in.TableName, Attribute: *spec.AttributeName, Enabled: *spec.Enabled})
	if err != nil {
		return nil, err
	}
	return struct{ TimeToLiveSpecification timeToLiveSpecificationOutput }{
		timeToLiveSpecificationOutput{AttributeName: ttl.Attribute, Enabled: ttl.Enabled}}, nil
}

type timeToLiveDescription struct {
	TimeToLiveStatus string
	AttributeName    string `json:",omitempty"`
}

func (h *handler) describeTimeToLive(ctx context.Context, body []byte) (any, error) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("tableName", in.TableName == ""); err != nil {
		return nil, err
	}
	ttl, err := h.svc.DescribeTimeToLive(ctx, in.TableName)
	if err != nil {
		return nil, err
	}
	d := timeToLiveDescription{TimeToLiveStatus: ttlDisabled}
	if ttl.Enabled {
		d = timeToLiveDescription{TimeToLiveStatus: ttlEnabled, AttributeName: ttl.Attribute}
	}
	return struct{ TimeToLiveDescription timeToLiveDescription }{d}, nil
}
