package labview

import (
	"github.com/agops/agops/internal/report"
)

// Summary is what the console shows of report.json: the verdict, counts per outcome (for the project and per
// service) and what needs input.
type Summary struct {
	Verdict    string
	Counts     report.Counts
	Services   []ServiceCounts
	NeedsInput []Need
	Security   []Need // findings that weaken isolation, for review
	Secrets    []Secret
}

// ServiceCounts are one Compose service's decisions counted by outcome.
type ServiceCounts struct {
	Service   string
	Workload  string // "" for a service that becomes no workload of its own
	Namespace string
	Kind      string
	Counts    report.Counts
}

// Need is one decision that asks the user for something.
type Need struct {
	Service string // "" for the project as a whole
	Key     string
	Reason  string
	Hint    string
}

// Secret is one Secret to create before applying; its values are not in the output.
type Secret struct {
	Name, Namespace string
	Keys            []string
	Create          string // how to create it
}

func summarize(rep *report.Report) Summary {
	s := Summary{Verdict: rep.Verdict, Counts: rep.Summary}
	for _, svc := range rep.Services {
		s.Services = append(s.Services, ServiceCounts{Service: svc.Service, Workload: svc.Workload,
			Namespace: svc.Namespace, Kind: svc.Kind, Counts: svc.Counts})
	}
	for _, d := range rep.Needs {
		s.NeedsInput = append(s.NeedsInput, Need{Service: d.Service, Key: d.Key, Reason: d.Reason, Hint: d.Hint})
	}
	for _, d := range rep.Security {
		s.Security = append(s.Security, Need{Service: d.Service, Key: d.Key, Reason: d.Reason, Hint: d.Hint})
	}
	for _, sec := range rep.Secrets {
		s.Secrets = append(s.Secrets, Secret{Name: sec.Name, Namespace: sec.Namespace, Keys: sec.Keys, Create: sec.Create})
	}
	return s
}
