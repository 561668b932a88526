package labview

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
)

// Layout, in SVG user units (pixels at 100 %).
const (
	margin    = 24
	titleH    = 64
	colW      = 240 // a tier's box
	gapW      = 170 // between columns, where the edges run
	tierHead  = 40
	boxW      = 208
	boxH      = 42
	rowH      = 52
	listRowH  = 18 // a workload's line in a collapsed tier
	maxListed = 30 // workloads named per tier when collapsed
	outsideH  = 56
	loopRoom  = 90 // right of the last column, for same-tier edges
)

// Colours.
const (
	colInner   = "#3f6fb5"
	colOutside = "#c2571a"
	colTier    = "#eef2f7"
	colBorder  = "#9aa9bb"
	colText    = "#1d2733"
	colMuted   = "#5b6877"
)

// box is where something is drawn.
type box struct{ x, y, w, h, col int }

func (b box) left() (int, int)  { return b.x, b.y + b.h/2 }
func (b box) right() (int, int) { return b.x + b.w, b.y + b.h/2 }

// SVG draws the lab: tiers as columns of boxes, the outside world left of them, and an arrow for each allowed
// connection. An arrow's ports are written once where the arrows enter a workload (the same ports from several
// sources share one label). With more than MaxDetailed workloads one arrow per pair of tiers carries the number of
// connections instead, and the picture says so. The output is deterministic and self-contained: no script, no
// external fonts or styles.
func (l *Lab) SVG() []byte {
	p := newPainter(l)
	p.layout()
	return p.paint()
}

type painter struct {
	lab      *Lab
	outside  bool           // some connection involves the outside world
	tierBox  map[string]box // namespace → box
	wlBox    map[string]box // workload ID → box
	outBox   box
	width    int
	height   int
	hiddenBy map[string]int // namespace → workloads not named in a collapsed tier
}

func newPainter(l *Lab) *painter {
	p := &painter{lab: l, tierBox: map[string]box{}, wlBox: map[string]box{}, hiddenBy: map[string]int{}}
	for _, c := range l.Connections {
		if c.From == Outside || c.To == Outside {
			p.outside = true
		}
	}
	return p
}

func (p *painter) layout() {
	col, x := 0, margin
	top := margin + titleH
	bottom := top + outsideH
	if p.outside {
		p.outBox = box{x: x + (colW-boxW)/2, y: top + tierHead, w: boxW, h: outsideH, col: 0}
		if p.lab.Collapsed {
			p.outBox.h = max(outsideH, p.slotsH())
		}
		bottom = p.outBox.y + p.outBox.h
		col, x = 1, x+colW+gapW
	}
	for _, t := range p.lab.Tiers {
		tb := box{x: x, y: top, w: colW, col: col}
		y := top + tierHead
		for i, w := range t.Workloads {
			if p.lab.Collapsed {
				if i >= maxListed {
					p.hiddenBy[t.Namespace] = len(t.Workloads) - maxListed
					y += listRowH
					break
				}
				y += listRowH
				continue
			}
			p.wlBox[w.ID] = box{x: x + (colW-boxW)/2, y: y, w: boxW, h: boxH, col: col}
			y += rowH
		}
		tb.h = max(y-top+10, tierHead+boxH)
		if p.lab.Collapsed { // room for a slot per column on each side (see slot)
			tb.h = max(tb.h, p.slotsH())
		}
		p.tierBox[t.Namespace] = tb
		bottom = max(bottom, tb.y+tb.h)
		col, x = col+1, x+colW+gapW
	}
	p.width = max(x-gapW+loopRoom+margin, 560)
	p.height = bottom + margin + 24 // room for the footnote
}

func (p *painter) paint() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" role="img">`+"\n",
		p.width, p.height, p.width, p.height)
	fmt.Fprintf(&b, "<title>%s</title>\n", esc("the lab: "+p.lab.Project))
	b.WriteString(`<defs>` +
		`<marker id="arrow-inner" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="` + colInner + `"/></marker>` +
		`<marker id="arrow-outside" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="` + colOutside + `"/></marker>` +
		"</defs>\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", p.width, p.height)
	p.title(&b)
	p.tiers(&b)
	if p.lab.Collapsed {
		p.tierEdges(&b)
	} else {
		p.edges(&b)
	}
	p.boxes(&b)
	p.footnote(&b)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func (p *painter) title(b *bytes.Buffer) {
	l := p.lab
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="18" font-weight="bold" fill="%s">%s</text>`+"\n",
		margin, margin+18, colText, esc(l.Project))
	sub := fmt.Sprintf("%d workloads in %d tiers; %d allowed connections", l.WorkloadCount(), len(l.Tiers), len(l.Connections))
	if l.Overlay != "" {
		sub += fmt.Sprintf(" (overlay %s)", l.Overlay)
	}
	sub += "; verdict: " + l.Report.Verdict
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="12" fill="%s">%s</text>`+"\n", margin, margin+38, colMuted, esc(sub))
}

func (p *painter) tiers(b *bytes.Buffer) {
	if p.outside {
		x := margin
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" font-weight="bold" fill="%s">outside the cluster</text>`+"\n",
			x+8, margin+titleH+22, colText)
	}
	for _, t := range p.lab.Tiers {
		tb := p.tierBox[t.Namespace]
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" rx="8" fill="%s" stroke="%s"/>`+"\n",
			tb.x, tb.y, tb.w, tb.h, colTier, colBorder)
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" font-weight="bold" fill="%s">%s</text>`+"\n",
			tb.x+12, tb.y+18, colText, esc(fit("tier "+t.Name, 30)))
		detail := t.Namespace
		if t.PodSecurity != "" {
			detail += " · " + t.PodSecurity
		}
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="10" fill="%s">%s</text>`+"\n",
			tb.x+12, tb.y+32, colMuted, esc(fit(detail, 40)))
		if p.lab.Collapsed {
			p.list(b, t, tb)
		}
	}
}

// boxes draws the workloads (over the edges) and the outside world.
func (p *painter) boxes(b *bytes.Buffer) {
	if p.outside {
		ob := p.outBox
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" rx="20" fill="#fff6ef" stroke="%s"/>`+"\n",
			ob.x, ob.y, ob.w, ob.h, colOutside)
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" text-anchor="middle" fill="%s">the outside world</text>`+"\n",
			ob.x+ob.w/2, ob.y+ob.h/2+4, colText)
	}
	if p.lab.Collapsed {
		return
	}
	for _, t := range p.lab.Tiers {
		for _, w := range t.Workloads {
			wb := p.wlBox[w.ID]
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" rx="5" fill="#ffffff" stroke="%s"/>`+"\n",
				wb.x, wb.y, wb.w, wb.h, colBorder)
			fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" font-weight="bold" fill="%s">%s</text>`+"\n",
				wb.x+8, wb.y+17, colText, esc(fit(w.Name, 26)))
			fmt.Fprintf(b, `<text x="%d" y="%d" font-size="10" fill="%s">%s</text>`+"\n",
				wb.x+8, wb.y+33, colMuted, esc(fit(describe(w), 38)))
		}
	}
}

// describe is a workload's second line: kind, replicas, ports.
func describe(w Workload) string {
	s := w.Kind
	switch {
	case w.Kind == "DaemonSet":
		s += " · one per node"
	case w.Replicas != 1:
		s += fmt.Sprintf(" ×%d", w.Replicas)
	}
	if len(w.Ports) > 0 {
		s += " · " + strings.Join(w.Ports, ", ")
	}
	return s
}

func (p *painter) footnote(b *bytes.Buffer) {
	note := "Arrows are the connections the NetworkPolicies allow (DNS and a workload's own replicas left out); " +
		"ports are written where the arrows enter."
	if p.lab.Collapsed {
		note = fmt.Sprintf("%d workloads, more than %d: one arrow per pair of tiers, with the number of connections it stands for.",
			p.lab.WorkloadCount(), p.lab.MaxDetailed)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" fill="%s">%s</text>`+"\n", margin, p.height-margin+4, colMuted, esc(note))
}

// anchor is a point where edges leave or enter a box, and the side it is on (+1 right, -1 left).
type anchor struct{ x, y, side int }

// route picks the sides an edge leaves from and enters by: towards each other across columns, the right sides
// within one column.
func route(from, to box) (anchor, anchor) {
	switch {
	case from.col < to.col:
		fx, fy := from.right()
		tx, ty := to.left()
		return anchor{fx, fy, 1}, anchor{tx, ty, -1}
	case from.col > to.col:
		fx, fy := from.left()
		tx, ty := to.right()
		return anchor{fx, fy, -1}, anchor{tx, ty, 1}
	default:
		fx, fy := from.right()
		tx, ty := to.right()
		if from == to { // a loop: leave above the middle, come back below
			fy, ty = fy-8, ty+8
		}
		return anchor{fx, fy, 1}, anchor{tx, ty, 1}
	}
}

// curve is the path of an edge: a cubic Bézier leaving and entering horizontally.
func curve(a, z anchor) string {
	bend := max(abs(z.x-a.x)/2, 40)
	if a.side == z.side { // within a column: bulge out, more for rows further apart
		bend = min(30+abs(z.y-a.y)/4, gapW-40)
	}
	return fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", a.x, a.y, a.x+a.side*bend, a.y, z.x+z.side*bend, z.y, z.x, z.y)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (p *painter) boxOf(id string) (box, bool) {
	if id == Outside {
		return p.outBox, p.outside
	}
	b, ok := p.wlBox[id]
	return b, ok
}

// entry is where a label goes: a workload's side, and the labels already written there.
type entry struct {
	at     anchor
	labels []string
	color  string
}

func (p *painter) edges(b *bytes.Buffer) {
	entries := map[anchor]*entry{}
	var order []anchor
	for _, c := range p.lab.Connections {
		fb, ok1 := p.boxOf(c.From)
		tb, ok2 := p.boxOf(c.To)
		if !ok1 || !ok2 {
			continue
		}
		a, z := route(fb, tb)
		color, marker := colInner, "arrow-inner"
		if c.From == Outside || c.To == Outside {
			color, marker = colOutside, "arrow-outside"
		}
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-opacity="0.55" stroke-width="1.3" marker-end="url(#%s)"><title>%s</title></path>`+"\n",
			curve(a, z), color, marker, esc(c.From+" → "+c.To+": "+portLabel(c)))
		e := entries[z]
		if e == nil {
			e = &entry{at: z, color: color}
			entries[z] = e
			order = append(order, z)
		}
		if l := portLabel(c); !slices.Contains(e.labels, l) {
			e.labels = append(e.labels, l)
		}
	}
	for _, z := range order {
		p.entryLabels(b, entries[z])
	}
}

func portLabel(c Connection) string {
	l := strings.Join(c.Ports, ", ")
	if len(c.Ports) == 1 && c.Ports[0] == "any" {
		l = "any port"
	}
	if c.Via != "" {
		l += " via " + c.Via
	}
	return l
}

// entryLabels writes the port labels of the edges entering one side of a box, stacked above the entry point.
func (p *painter) entryLabels(b *bytes.Buffer, e *entry) {
	anchorText, dx := "end", -6
	if e.at.side > 0 {
		anchorText, dx = "start", 6
	}
	for i, l := range e.labels {
		y := e.at.y - 6 - 12*(len(e.labels)-1-i)
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="10" text-anchor="%s" fill="%s" stroke="#ffffff" stroke-width="3" paint-order="stroke">%s</text>`+"\n",
			e.at.x+dx, y, anchorText, e.color, esc(fit(l, 30)))
	}
}

// fit shortens s to n runes with an ellipsis.
func fit(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// esc escapes text for an SVG text node or attribute.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
