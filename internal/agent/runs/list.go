package runs

import (
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
)

type workflowListRequest = workflowservice.ListWorkflowExecutionsRequest

var converterDefault = converter.GetDefaultDataConverter()
