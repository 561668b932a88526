package runs

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/agops/agops/internal/agent"
)

// Follow prints run id's progress to w as it happens — agents starting and answering, tool turns, approvals waited
// for (with the command that gives them) — until the run ends, and returns its result.
func Follow(ctx context.Context, c client.Client, id string, w io.Writer, every time.Duration) (agent.RunResult, error) {
	done := make(chan struct{})
	var res agent.RunResult
	var err error
	go func() {
		defer close(done)
		res, err = Result(ctx, c, id)
	}()
	p := progress{w: w, id: id, seen: map[string]agent.Status{}, asked: map[string]bool{}}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-done:
			if v, serr := Show(ctx, c, id); serr == nil {
				p.update(v)
			}
			return res, err
		case <-tick.C:
			if v, serr := Show(ctx, c, id); serr == nil {
				p.update(v)
			}
		}
	}
}

type progress struct {
	w     io.Writer
	id    string
	seen  map[string]agent.Status // by agent task (agent name + start order)
	asked map[string]bool         // approvals already announced
}

func (p *progress) update(v View) {
	for i, st := range v.Tasks {
		key := fmt.Sprintf("%d/%s", i, st.Agent)
		old, known := p.seen[key]
		p.seen[key] = st
		if !known {
			fmt.Fprintf(p.w, "→ %s started\n", st.Agent)
		}
		if st.Turns != old.Turns && st.Turns > 0 {
			fmt.Fprintf(p.w, "  %s: turn %d, %d tokens, %d tool calls\n", st.Agent, st.Turns, st.Usage[st.Agent].Tokens, st.Usage[st.Agent].ToolCalls)
		}
		if st.Phase == "done" && old.Phase != "done" {
			fmt.Fprintf(p.w, "✓ %s answered: %s\n", st.Agent, oneLine(st.LastReply))
		}
	}
	for _, a := range v.Pending {
		if p.asked[a.ID] {
			continue
		}
		p.asked[a.ID] = true
		fmt.Fprintf(p.w, "⏸ %s waits for approval %s: %s/%s %s (until %s)\n  approve: agops runs approve %s %s --token-file APPROVER-TOKENS   (or --reject)\n",
			a.Agent, a.ID, a.Server, a.Tool, a.Arguments, a.Expires.Local().Format(time.TimeOnly), p.id, a.ID)
	}
}

func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' {
			r = ' '
		}
		out = append(out, r)
		if len(out) >= 120 {
			return string(out) + "…"
		}
	}
	return string(out)
}
