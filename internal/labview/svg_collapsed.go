package labview

import (
	"bytes"
	"fmt"
)

// The picture of a project with more than MaxDetailed workloads: tiers list their workloads by name, and one arrow
// per pair of tiers stands for their connections.

// slotsH is the height a box needs for one arrow slot per column (see slot), up to 20 columns; more wrap.
func (p *painter) slotsH() int {
	return 28*min(len(p.lab.Tiers)+1, 20) + 24
}

// list names a collapsed tier's workloads, one per line.
func (p *painter) list(b *bytes.Buffer, t Tier, tb box) {
	y := tb.y + tierHead + 12
	for i, w := range t.Workloads {
		if i >= maxListed {
			fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" fill="%s">%s</text>`+"\n",
				tb.x+12, y, colMuted, esc(fmt.Sprintf("… and %d more", p.hiddenBy[t.Namespace])))
			return
		}
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="11" fill="%s">%s</text>`+"\n",
			tb.x+12, y, colText, esc(fit(w.Name+" · "+w.Kind, 36)))
		y += listRowH
	}
}

// tierEdges draws one arrow per pair of tiers, labelled with the number of connections. Each arrow leaves and
// enters at a height of its own, chosen by the other end's column and the direction, so that no two overlap.
func (p *painter) tierEdges(b *bytes.Buffer) {
	for _, tl := range p.lab.TierLinks {
		fb, ok1 := p.tierOrOutside(tl.From)
		tb, ok2 := p.tierOrOutside(tl.To)
		if !ok1 || !ok2 {
			continue
		}
		a, z := route(fb, tb)
		a.y, z.y = slot(fb, tb.col, fb.col < tb.col), slot(tb, fb.col, fb.col < tb.col)
		if fb == tb {
			z.y += 12
		}
		color, marker := colInner, "arrow-inner"
		if tl.From == Outside || tl.To == Outside {
			color, marker = colOutside, "arrow-outside"
		}
		width := 1.5 + min(float64(tl.Count)/20, 2.5)
		label := fmt.Sprintf("%d connection", tl.Count)
		if tl.Count != 1 {
			label += "s"
		}
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-opacity="0.6" stroke-width="%.1f" marker-end="url(#%s)"><title>%s</title></path>`+"\n",
			curve(a, z), color, width, marker, esc(tl.From+" → "+tl.To+": "+label))
		p.entryLabels(b, &entry{at: z, labels: []string{label}, color: color})
	}
}

// slot is the height on box's side where the arrow to or from column other goes: one band of 28 units per column,
// the upper half for arrows that run rightwards, the lower half for the others, wrapping within the box.
func slot(bx box, other int, rightwards bool) int {
	off := 28 * other
	if !rightwards {
		off += 14
	}
	room := max(bx.h-24, 14)
	return bx.y + 16 + off%room
}

func (p *painter) tierOrOutside(ns string) (box, bool) {
	if ns == Outside {
		return p.outBox, p.outside
	}
	b, ok := p.tierBox[ns]
	return b, ok
}
